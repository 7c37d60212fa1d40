/**
 * The release steps (lib/release/release.ts) in process: two registries (the kit's registry core
 * over an in-memory store, reached through the real MLflow client and the MLflow REST handler) and
 * an in-memory object port. The two-platform test drives the same steps through the machine.
 */
import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { HttpMlflowClient } from '../../lib/adapters/sigv4-http/mlflow-client';
import { createRegistryServices, RecordingPublisher } from '../../lib/registry';
import { handleMlflowRequest } from '../../lib/registry/api';
import {
  cleanUpRelease,
  copyArtifacts,
  promoteRelease,
  readSourceVersion,
  registerRelease,
  rejectRelease,
  type ReleaseObjects,
  type ReleasePlan,
} from '../../lib/release/release';
import { VERSION_TAGS } from '../../lib/shared/operations';
import { MemoryRecordStore } from '../registry/memory-store';

/** A registry in process, behind the MLflow client the release function uses. */
function registry(events = new RecordingPublisher()) {
  const services = createRegistryServices({ store: new MemoryRecordStore(), artifactsBucket: 'artifacts', events });
  const fetch = (async (input: URL, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const query: Record<string, string[]> = {};
    for (const [k, v] of url.searchParams) (query[k] ??= []).push(v);
    const res = await handleMlflowRequest(
      { method: init.method ?? 'GET', path: url.pathname, headers: (init.headers ?? {}) as Record<string, string>, query, ...(init.body ? { body: String(init.body) } : {}) },
      services,
    );
    return new Response(res.body, { status: res.statusCode, headers: res.headers });
  }) as typeof globalThis.fetch;
  return { client: new HttpMlflowClient({ baseUrl: 'http://registry/', fetch }), events };
}

/** Objects of both sides in maps; the source body streams in small chunks. */
function objects(source: Map<string, Uint8Array>) {
  const target = new Map<string, Uint8Array>();
  const port: ReleaseObjects = {
    targetBucket: 'target-artifacts',
    async readSource(uri) {
      const body = source.get(`${uri.bucket}/${uri.key}`);
      if (!body) throw Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
      return {
        length: body.length,
        body: (async function* () {
          for (let i = 0; i < body.length; i += 7) yield body.subarray(i, i + 7);
        })(),
      };
    },
    async writeTarget(key, body) {
      const chunks: Uint8Array[] = [];
      for await (const c of body) chunks.push(c);
      target.set(key, Buffer.concat(chunks));
    },
    async copyTarget(from, to) {
      target.set(to, target.get(from)!);
      return { versionId: `version-of-${to}` };
    },
    async deleteTarget(keys) {
      for (const k of keys) target.delete(k);
    },
    async listTarget(prefix) {
      return [...target.keys()].filter((k) => k.startsWith(prefix));
    },
  };
  return { port, target };
}

const ARTIFACT = Buffer.from('a model archive, in more than one chunk');
const SHA = createHash('sha256').update(ARTIFACT).digest('hex');
const SOURCE_URI = 's3://source-artifacts/runs/wine/e-1/model.tar.gz';

let source: ReturnType<typeof registry>;
let target: ReturnType<typeof registry>;
let sourceObjects: Map<string, Uint8Array>;

/** The training run's data version, as "Register model" records it: a reference on the run, its URI and digest on the version. */
const DATA_URI = 's3://source-artifacts/runs/wine/e-1/data-version.json';
const DATA_SHA = 'ab'.repeat(32);
const DATA_REF = JSON.stringify({ uri: DATA_URI, sha256: DATA_SHA, objects: 1 });
const SOURCE_TAGS = [
  { key: VERSION_TAGS.artifactSha256, value: SHA },
  { key: VERSION_TAGS.dataVersionUri, value: DATA_URI },
  { key: VERSION_TAGS.dataVersionSha256, value: DATA_SHA },
];

async function registerInSource(tags: { key: string; value: string }[] = SOURCE_TAGS, dataVersion = DATA_REF) {
  await source.client.post('registered-models/create', { name: 'wine' });
  const { experiment_id } = await source.client.post<{ experiment_id: string }>('experiments/create', { name: 'wine' });
  const { run } = await source.client.post<{ run: { info: { run_id: string } } }>('runs/create', { experiment_id });
  await source.client.post('runs/log-batch', {
    run_id: run.info.run_id,
    metrics: [{ key: 'holdout_rmse', value: 0.69, timestamp: 1, step: 0 }],
    params: [{ key: 'alpha', value: '0.1' }],
    tags: [{ key: VERSION_TAGS.dataVersion, value: dataVersion }],
  });
  await source.client.post('model-versions/create', { name: 'wine', source: SOURCE_URI, run_id: run.info.run_id, tags });
  return run.info.run_id;
}

const read = (version = '1') => readSourceVersion(source.client, target.client, { model: 'wine', version, source_environment: 'staging' });

beforeEach(() => {
  source = registry();
  target = registry();
  sourceObjects = new Map([['source-artifacts/runs/wine/e-1/model.tar.gz', ARTIFACT]]);
});

describe('Read source version', () => {
  it('reads the version, its run and digest, and plans the copy', async () => {
    const runId = await registerInSource();
    const plan = await read();
    expect(plan).toMatchObject({
      source_version: '1',
      source_uri: SOURCE_URI,
      source_run_id: runId,
      sha256: SHA,
      data_version: DATA_REF,
      data_version_uri: DATA_URI,
      data_version_sha256: DATA_SHA,
      metrics: { holdout_rmse: 0.69 },
      params: { alpha: '0.1' },
      target_prefix: 'releases/wine/staging/v1/',
      already_released: null,
    });
  });

  it("takes the data version's URI and digest from the run's reference when the version lacks them; none from an inline list", async () => {
    await registerInSource([SOURCE_TAGS[0]!]);
    expect(await read()).toMatchObject({ data_version_uri: DATA_URI, data_version_sha256: DATA_SHA });
    source = registry();
    await registerInSource([SOURCE_TAGS[0]!], '{"objects":[]}');
    expect(await read()).toMatchObject({ data_version: '{"objects":[]}', data_version_uri: null, data_version_sha256: null });
  });

  it('fails if the model or the version is unknown, or the version has no digest', async () => {
    await expect(read()).rejects.toMatchObject({ name: 'SourceNotFound', message: expect.stringMatching(/no model named wine/) });
    await registerInSource([]);
    await expect(read('2')).rejects.toMatchObject({ name: 'SourceNotFound', message: expect.stringMatching(/no version 2 of model wine/) });
    await expect(read('1')).rejects.toMatchObject({ name: 'ReleaseInputError', message: expect.stringMatching(/must carry its artifact digest/) });
    await expect(read('one')).rejects.toMatchObject({ name: 'ReleaseInputError', message: expect.stringMatching(/but "one" was provided/) });
  });
});

describe('Copy, register, approve', () => {
  it('copies and verifies through an incoming key, registers with lineage once per execution, and promotes', async () => {
    const runId = await registerInSource();
    const plan = await read();
    const { port, target: objs } = objects(sourceObjects);
    const copied = await copyArtifacts(port, plan, 'exec-1');
    expect(copied).toMatchObject({ artifact_uri: 's3://target-artifacts/releases/wine/staging/v1/model.tar.gz', sha256: SHA, bytes: ARTIFACT.length });
    expect([...objs.keys()]).toEqual(['releases/wine/staging/v1/model.tar.gz']);

    const released = await registerRelease(target.client, { plan, copied, execution: 'exec-1' });
    // A retried step finds what it created.
    expect(await registerRelease(target.client, { plan, copied, execution: 'exec-1' })).toEqual(released);
    const { model_version: v } = await target.client.get<{ model_version: { tags: { key: string; value: string }[]; source: string } }>(
      'model-versions/get',
      { name: 'wine', version: released.version },
    );
    const tags = Object.fromEntries(v.tags.map((t) => [t.key, t.value]));
    expect(tags).toMatchObject({
      [VERSION_TAGS.sourceEnvironment]: 'staging',
      [VERSION_TAGS.sourceVersion]: '1',
      [VERSION_TAGS.sourceRunId]: runId,
      [VERSION_TAGS.artifactSha256]: SHA,
      [VERSION_TAGS.dataVersion]: DATA_REF,
      // The training data's lineage, as the source version records it.
      [VERSION_TAGS.dataVersionUri]: DATA_URI,
      [VERSION_TAGS.dataVersionSha256]: DATA_SHA,
      // The copy's own object version, which the target's model servers read.
      [VERSION_TAGS.artifactVersionId]: 'version-of-releases/wine/staging/v1/model.tar.gz',
    });
    expect(v.source).toBe(copied.artifact_uri);
    expect((await read()).already_released).toEqual({ version: released.version, stage: 'None' });

    await promoteRelease(target.client, released, 'ana');
    expect(target.events.published.map((e) => [e.version, e.stage])).toEqual([[released.version, 'Production']]);
  });

  it('refuses to register a second version when another execution released the same source version meanwhile', async () => {
    await registerInSource();
    const plan = await read();
    const { port } = objects(sourceObjects);
    const copied = await copyArtifacts(port, plan, 'exec-1');
    await registerRelease(target.client, { plan, copied, execution: 'exec-1' });
    await expect(registerRelease(target.client, { plan, copied, execution: 'exec-2' })).rejects.toMatchObject({
      name: 'AlreadyReleased',
      message: expect.stringMatching(/was released here as version 1 by another execution meanwhile/),
    });
  });

  it('refuses a tampered artifact and leaves no object behind', async () => {
    await registerInSource();
    const plan = await read();
    sourceObjects.set('source-artifacts/runs/wine/e-1/model.tar.gz', Buffer.from('something else'));
    const { port, target: objs } = objects(sourceObjects);
    await expect(copyArtifacts(port, plan, 'exec-1')).rejects.toMatchObject({
      name: 'ArtifactDigestMismatch',
      message: expect.stringMatching(new RegExp(`but the source registry recorded ${SHA}`)),
    });
    expect(objs.size).toBe(0);
  });

  it('archives a rejected version, and a clean-up removes an unpromoted one with its run, model and copies', async () => {
    await registerInSource();
    const plan: ReleasePlan = await read();
    const { port, target: objs } = objects(sourceObjects);
    const copied = await copyArtifacts(port, plan, 'exec-1');
    const released = await registerRelease(target.client, { plan, copied, execution: 'exec-1' });
    expect(await rejectRelease(target.client, released, 'not now')).toEqual({ stage: 'Archived' });
    expect(target.events.published).toEqual([]);

    const cleaned = await cleanUpRelease(target.client, port, { model: 'wine', execution: 'exec-1', target_prefix: plan.target_prefix });
    expect(cleaned).toEqual({ removedVersion: released.version, removedObjects: 1 });
    expect(objs.size).toBe(0);
    await expect(target.client.get('registered-models/get', { name: 'wine' })).rejects.toMatchObject({ status: 404 });
    // Repeating it finds nothing left to do.
    expect(await cleanUpRelease(target.client, port, { model: 'wine', execution: 'exec-1', target_prefix: plan.target_prefix })).toEqual({
      removedVersion: null,
      removedObjects: 0,
    });
  });
});
