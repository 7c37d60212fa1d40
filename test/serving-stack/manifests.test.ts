import { describe, expect, it } from 'vitest';
import { renderRoutes } from '../../lib/serving-infra/router';
import {
  DEFAULT_MODEL_RESOURCES,
  deploymentNameFor,
  liveStateOf,
  modelServiceName,
  predictorServiceName,
  RenderError,
  type RenderSeldonOptions,
  renderSeldonDeployment,
} from '../../lib/serving-infra/seldon';
import { crdErrors } from './crd';

const base: RenderSeldonOptions = {
  model: 'wine-quality',
  version: '4',
  artifactUri: 's3://artifacts/training/job-4/output/model.tar.gz',
  image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:abc',
  namespace: 'seldon',
  replicas: 2,
  resources: DEFAULT_MODEL_RESOURCES,
  requestLogUri: 's3://raw/predictions/',
};
const canary = {
  version: '5',
  artifactUri: 's3://artifacts/training/job-5/output/model.tar.gz',
  trafficPercent: 10,
};

const errorsOf = crdErrors;

describe('SeldonDeployment rendering', () => {
  it('renders a plain deployment the v1 CRD schema accepts', () => {
    // act
    const [sdep] = renderSeldonDeployment(base);
    // assess
    expect(errorsOf(sdep)).toEqual([]);
    expect(sdep!.metadata).toMatchObject({ name: 'wine-quality', namespace: 'seldon' });
    expect(sdep!.spec.predictors.map((p) => [p.name, p.traffic, p.replicas])).toEqual([['v4', 100, 2]]);
  });

  it('renders a canary as two predictors whose traffic sums to 100, accepted by the schema', () => {
    const [sdep] = renderSeldonDeployment({ ...base, canary });
    expect(errorsOf(sdep)).toEqual([]);
    const predictors = sdep!.spec.predictors;
    expect(predictors.map((p) => [p.name, p.traffic])).toEqual([
      ['v4', 90],
      ['v5', 10],
    ]);
    expect(predictors.reduce((sum, p) => sum + p.traffic, 0)).toBe(100);
  });

  it('gives the model container the server env contract', () => {
    const [sdep] = renderSeldonDeployment({ ...base, canary });
    const container = (p: number) =>
      (
        sdep!.spec.predictors[p]!.componentSpecs[0]!.spec as {
          containers: { name: string; env: { name: string; value: string }[] }[];
        }
      ).containers[0]!;
    const env = Object.fromEntries(container(1).env.map((e) => [e.name, e.value]));
    expect(container(1).name).toBe(sdep!.spec.predictors[1]!.graph['name']);
    expect(env).toEqual({
      MODEL_URI: canary.artifactUri,
      MODEL_NAME: 'wine-quality',
      MODEL_VERSION: '5',
      DRAIN_DELAY_MS: '10000',
      REQUEST_LOG_URI: 's3://raw/predictions/deployment=wine-quality/',
    });
  });

  it("passes the environment's request-log sample rate to the model container", () => {
    const [sdep] = renderSeldonDeployment({ ...base, requestLogSampleRate: 0.1 });
    const spec = sdep!.spec.predictors[0]!.componentSpecs[0]!.spec as {
      containers: { env: { name: string; value: string }[] }[];
    };
    expect(spec.containers[0]!.env).toContainEqual({ name: 'REQUEST_LOG_SAMPLE_RATE', value: '0.1' });
  });

  it('the schema check is live: it rejects a predictor without a graph and a string traffic', () => {
    const [sdep] = renderSeldonDeployment(base);
    const broken = structuredClone(sdep!) as unknown as { spec: { predictors: Record<string, unknown>[] } };
    delete broken.spec.predictors[0]!['graph'];
    broken.spec.predictors[0]!['traffic'] = 'all';
    expect(errorsOf(broken).join('\n')).toMatch(/graph/);
    expect(errorsOf(broken).join('\n')).toMatch(/traffic/);
  });

  it('reads back what a rendered deployment serves', () => {
    const [sdep] = renderSeldonDeployment({ ...base, canary, eventId: 'e-1' });
    expect(liveStateOf(sdep!)).toEqual({
      name: 'wine-quality',
      namespace: 'seldon',
      model: 'wine-quality',
      stable: { version: '4', artifactUri: base.artifactUri },
      canary,
      eventId: 'e-1',
    });
  });

  it('pins the served artifact: MODEL_SHA256 and MODEL_VERSION_ID, read back from the annotations', () => {
    const pins = { artifactSha256: 'a'.repeat(64), artifactVersionId: '3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY' };
    const [sdep] = renderSeldonDeployment({ ...base, ...pins, canary: { ...canary, artifactSha256: 'b'.repeat(64) } });
    expect(errorsOf(sdep)).toEqual([]);
    const env = (p: number) =>
      (sdep!.spec.predictors[p]!.componentSpecs[0]!.spec as { containers: { env: { name: string; value: string }[] }[] })
        .containers[0]!.env;
    expect(env(0)).toEqual(expect.arrayContaining([
      { name: 'MODEL_SHA256', value: pins.artifactSha256 },
      { name: 'MODEL_VERSION_ID', value: pins.artifactVersionId },
    ]));
    expect(env(1)).toContainEqual({ name: 'MODEL_SHA256', value: 'b'.repeat(64) });
    expect(env(1).map((e) => e.name)).not.toContain('MODEL_VERSION_ID');
    expect(liveStateOf(sdep!)).toMatchObject({
      stable: { version: '4', ...pins },
      canary: { version: '5', artifactSha256: 'b'.repeat(64) },
    });
  });

  it.each([
    [{ artifactSha256: 'ABC' }, /the artifact SHA-256 of artifactUri must be 64 lowercase hex digits, but "ABC" was provided/],
    [{ version: 'latest' }, /version must be a registry version number/],
    [{ replicas: 0 }, /replicas must be a whole number of at least 1/],
    [
      { canary: { ...canary, trafficPercent: 100 } },
      /canary.trafficPercent must be a whole number from 1 to 99, but 100/,
    ],
    [{ canary: { ...canary, version: '4' } }, /canary.version must differ from the stable version/],
    [{ model: 'wine quality' }, /model name must be letters/],
    [{ model: 'x'.repeat(41) }, /1 to 40 characters/],
  ] as const)('fails if the input is invalid (%o)', (override, message) => {
    expect(() => renderSeldonDeployment({ ...base, ...override })).toThrow(RenderError);
    expect(() => renderSeldonDeployment({ ...base, ...override })).toThrow(message);
  });

  it('names deployments and Services the way the operator will', () => {
    expect(deploymentNameFor('Wine_Quality')).toBe('wine-quality');
    expect(predictorServiceName('wine-quality', '5')).toBe('wine-quality-v5');
    expect(modelServiceName('wine-quality', '5')).toBe('wine-quality-v5-model');
  });
});

describe('router routes', () => {
  it('splits each deployment by its predictors traffic and strips the Seldon prefix', () => {
    const [sdep] = renderSeldonDeployment({ ...base, canary });
    const routes = renderRoutes([sdep!]);
    expect(routes.maps).toContain('90% wine-quality-v4.seldon.svc.cluster.local:8000;');
    expect(routes.maps).toContain('* wine-quality-v5.seldon.svc.cluster.local:8000;');
    expect(routes.maps).toContain('* wine-quality-v5-model.seldon.svc.cluster.local:9000;');
    expect(routes.locations).toContain('location /seldon/seldon/wine-quality/ {');
    expect(routes.locations).toContain('rewrite ^/seldon/seldon/wine-quality(/.*)$ $1 break;');
    expect(routes.locations).toContain('location /v2/models/wine-quality/ {');
  });

  it('is deterministic: the same deployments in any order give the same hash', () => {
    const [a] = renderSeldonDeployment(base);
    const [b] = renderSeldonDeployment({ ...base, model: 'iris' });
    expect(renderRoutes([a!, b!]).hash).toBe(renderRoutes([b!, a!]).hash);
    expect(renderRoutes([a!]).hash).not.toBe(renderRoutes([a!, b!]).hash);
  });
});
