/**
 * Two canaries at once, one failing: only that one rolls back. The deployer runs as the canary
 * state machine drives it (`dispatch` of parsed requests: apply, check, then promote or rollback
 * as the machine's Choice decides) against the loopback Kubernetes API and a CloudWatch stand-in
 * that evaluates the alarms the deployer put, from their own metric, dimensions and thresholds,
 * over per-version datapoints: an alarm watching the wrong series would see the wrong data.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeployerSettings } from '../../lib/serving-infra/deployer';
import type { AlarmState, CanaryAlarmsPort, MetricAlarmSpec } from '../../lib/serving-infra/canary-alarms';
import { httpTransport, KubernetesClient } from '../../lib/serving-infra/kubernetes';
import { type DeployerResponse, dispatch, parseDeployerRequest } from '../../lib/serving-infra/requests';
import type { SeldonDeploymentManifest } from '../../lib/serving-infra/seldon';
import { METRIC_NAMESPACES, SERVING_METRICS } from '../../lib/shared/operations';
import { FakeApiServer } from './fake-kubernetes';

/** Per-minute datapoints of one metric series: `namespace|metric|Model=…|ModelVersion=…` → values. */
type Series = Map<string, number[]>;
const key = (metric: string, model: string, version: string) =>
  `${METRIC_NAMESPACES.serving}|${metric}|Model=${model}|ModelVersion=${version}`;

/** CloudWatch as far as the canary alarms use it: PutMetricAlarm, DescribeAlarms, DeleteAlarms. */
class FakeCloudWatch implements CanaryAlarmsPort {
  readonly alarms = new Map<string, MetricAlarmSpec>();
  readonly data: Series = new Map();

  record(model: string, version: string, minutes: { requests: number; errors: number; p99: number }[]): void {
    for (const m of minutes) {
      for (const [metric, v] of [
        [SERVING_METRICS.requests, m.requests],
        [SERVING_METRICS.errors, m.errors],
        [SERVING_METRICS.latencyP99, m.p99],
      ] as const) {
        const k = key(metric, model, version);
        this.data.set(k, [...(this.data.get(k) ?? []), v]);
      }
    }
  }

  async put(alarms: readonly MetricAlarmSpec[]): Promise<void> {
    for (const a of alarms) this.alarms.set(a.AlarmName, a);
  }

  async states(names: readonly string[]): Promise<Record<string, AlarmState>> {
    const out: Record<string, AlarmState> = {};
    for (const n of names) {
      const a = this.alarms.get(n);
      if (a !== undefined) out[n] = this.evaluate(a);
    }
    return out;
  }

  async delete(names: readonly string[]): Promise<void> {
    for (const n of names) this.alarms.delete(n);
  }

  /** The alarm's returned series over its last EvaluationPeriods minutes, against its threshold. */
  private evaluate(a: MetricAlarmSpec): AlarmState {
    const series = new Map<string, number[]>();
    for (const q of a.Metrics) {
      if (q.MetricStat === undefined) continue;
      const m = q.MetricStat.Metric;
      const dims = m.Dimensions.map((d) => `${d.Name}=${d.Value}`).join('|');
      series.set(q.Id, this.data.get(`${m.Namespace}|${m.MetricName}|${dims}`) ?? []);
    }
    const out = a.Metrics.find((q) => q.ReturnData)!;
    let values: number[];
    if (out.MetricStat !== undefined) values = series.get(out.Id)!;
    else {
      // The one expression the kit writes: IF(requests > 0, errors / requests, 0).
      expect(out.Expression).toBe('IF(requests > 0, errors / requests, 0)');
      const errors = series.get('errors')!;
      values = series.get('requests')!.map((r, i) => (r > 0 ? errors[i]! / r : 0));
    }
    const last = values.slice(-a.EvaluationPeriods);
    if (last.length === 0) return 'INSUFFICIENT_DATA';
    const breaching = last.filter((v) => v > a.Threshold).length;
    return breaching >= a.DatapointsToAlarm ? 'ALARM' : 'OK';
  }
}

const SDEP = '/apis/machinelearning.seldon.io/v1/namespaces/seldon/seldondeployments';
const settings: DeployerSettings = {
  namespace: 'seldon',
  image: 'model-server:test',
  replicas: 1,
  canaryTrafficPercent: 10,
  canaryAlarmPrefix: 'test-Serving-canary-',
  canaryThresholds: { errorRate: 0.05, latencyP99Seconds: 1 },
};
const api = new FakeApiServer();
let k8s: KubernetesClient;
let cw: FakeCloudWatch;

beforeAll(async () => {
  await api.start();
  k8s = new KubernetesClient(httpTransport({ endpoint: api.url, token: async () => 'k8s-aws-v1.test' }));
});
afterAll(() => api.stop());
beforeEach(() => {
  api.objects.clear();
  cw = new FakeCloudWatch();
});

/** One deployer step, as the state machine sends it. */
const step = (request: unknown): Promise<DeployerResponse> =>
  dispatch(k8s, settings, parseDeployerRequest(request), cw);
const promote = (model: string, version: string) =>
  step({
    action: 'apply',
    detail: { eventId: `${model}-${version}`, modelName: model, version, artifactUri: `s3://a/${model}/${version}/model.tar.gz` },
  }) as Promise<{ plan: string; deployment: string; canaryVersion?: string; alarms?: string[] }>;
const traffic = (deployment: string) =>
  (api.objects.get(`${SDEP}/${deployment}`) as unknown as SeldonDeploymentManifest).spec.predictors.map((p) => [
    p.name,
    p.traffic,
  ]);

/**
 * The machine after the window: CheckCanaryAlarms, then CanaryHealthy → RollbackRoutes, wait,
 * Rollback or PromoteRoutes, wait, Promote. The routes-only step leaves both predictors serving.
 */
async function decide(deployment: string, version: string): Promise<'promoted' | 'rolled back'> {
  const verdict = (await step({ action: 'check', deployment, version })) as { state: string };
  const action = verdict.state === 'ALARM' ? 'rollback' : 'promote';
  const before = traffic(deployment);
  await step({ action, deployment, version, routesOnly: true });
  expect(traffic(deployment)).toEqual(before);
  await step({ action, deployment, version });
  return action === 'rollback' ? 'rolled back' : 'promoted';
}

const healthy = { requests: 100, errors: 0, p99: 0.004 };

describe('per-version canary alarms', () => {
  it('two concurrent canaries, one failing: only the failing one rolls back', async () => {
    await promote('wine-quality', '1');
    await promote('beer-quality', '1');
    const wine = await promote('wine-quality', '2');
    const beer = await promote('beer-quality', '2');
    expect([wine.plan, beer.plan]).toEqual(['canary', 'canary']);
    expect(wine.alarms).toEqual(['test-Serving-canary-wine-quality-v2-errors', 'test-Serving-canary-wine-quality-v2-latency']);
    expect([...cw.alarms.keys()].sort()).toEqual([...wine.alarms!, ...beer.alarms!].sort());

    // The window: wine v2 fails a third of its requests; beer's stable v1 has a bad spell too,
    // which a stage-wide alarm would have blamed on both canaries.
    cw.record('wine-quality', '1', [healthy, healthy, healthy]);
    cw.record('wine-quality', '2', [healthy, { requests: 9, errors: 3, p99: 0.005 }, { requests: 12, errors: 4, p99: 0.005 }]);
    cw.record('beer-quality', '1', [{ requests: 90, errors: 30, p99: 2 }, { requests: 90, errors: 30, p99: 2 }, healthy]);
    cw.record('beer-quality', '2', [healthy, healthy, healthy]);

    expect(await decide('wine-quality', '2')).toBe('rolled back');
    expect(await decide('beer-quality', '2')).toBe('promoted');
    expect(traffic('wine-quality')).toEqual([['v1', 100]]);
    expect(traffic('beer-quality')).toEqual([['v2', 100]]);
    // Each canary's alarms go with it.
    expect(cw.alarms.size).toBe(0);
  });

  it("rolls a canary back on its own p99 latency, and keeps a canary that got no traffic", async () => {
    await promote('wine-quality', '1');
    await promote('wine-quality', '2');
    cw.record('wine-quality', '2', [{ requests: 10, errors: 0, p99: 1.5 }, { requests: 10, errors: 0, p99: 1.2 }]);
    expect(await decide('wine-quality', '2')).toBe('rolled back');

    await promote('wine-quality', '3');
    expect(await decide('wine-quality', '3')).toBe('promoted');
  });

  it('a newer promotion replaces the canary and its alarms; the superseded rollout cannot judge it', async () => {
    await promote('wine-quality', '1');
    await promote('wine-quality', '2');
    await promote('wine-quality', '3');
    expect([...cw.alarms.keys()].sort()).toEqual([
      'test-Serving-canary-wine-quality-v3-errors',
      'test-Serving-canary-wine-quality-v3-latency',
    ]);
    await expect(step({ action: 'check', deployment: 'wine-quality', version: '2' })).rejects.toThrow(
      /version must be the canary to check, but the canary is now version 3 and 2 was provided/,
    );
    await expect(step({ action: 'promote', deployment: 'wine-quality', version: '2' })).rejects.toThrow(
      /the canary is now version 3/,
    );
    expect(traffic('wine-quality')).toEqual([
      ['v1', 90],
      ['v3', 10],
    ]);
  });

  it('judges a canary whose alarms are missing unhealthy (never promotes blind)', async () => {
    await promote('wine-quality', '1');
    await promote('wine-quality', '2');
    cw.alarms.clear();
    const verdict = (await step({ action: 'check', deployment: 'wine-quality', version: '2' })) as {
      state: string;
      alarms: Record<string, string>;
    };
    expect(verdict.state).toBe('ALARM');
    expect(Object.values(verdict.alarms)).toEqual(['MISSING', 'MISSING']);
  });

  it('fails if check is given no version, or one that is not a registry version', () => {
    expect(() => parseDeployerRequest({ action: 'check', deployment: 'wine-quality' })).toThrow(/^version: /);
    expect(() => parseDeployerRequest({ action: 'check', deployment: 'wine-quality', version: 'v2' })).toThrow(
      /version: must be a registry version number/,
    );
  });
});
