/**
 * bench/scale/registry: the registry core against dynalite (the local DynamoDB engine, LevelDB on
 * disk as `mlops up` runs it) with 10,000 registered models and one model of 10,000 versions, one
 * client. Seeds through the store's batch writes (the records the core writes, not HTTP: heads with
 * tags and latest-version pointers, tag index entries, a compacted stage on an archived version), then
 * times, per call, `search-registered-models` (first page of 100; the page after the first; a
 * `name LIKE 'model-004%'` filter; a `tags.team = 't3'` filter), `get-registered-model` and
 * `get-latest-versions` of the 10,000-version model. Prints wall-clock p50 / p99 (issue 19's target:
 * <= 50 ms p99 each) and, as figures machine load does not distort, the DynamoDB requests each call
 * makes and the process CPU time per call (client and dynalite run in this one process) p50.
 *
 *   npx tsx bench/scale/registry.ts [--models 10000] [--versions 10000] [--calls 100]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoRegistryStore } from '../../lib/adapters/dynamodb/registry-store';
import { createRegistryTable } from '../../lib/adapters/dynamodb/registry-table';
import { startDynamoDb } from '../../lib/local/dynamodb';
import { RecordingPublisher } from '../../lib/registry/events';
import { ModelRegistry } from '../../lib/registry/models';
import type { RecordRef, StoredRecord } from '../../lib/registry/store';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${name} must be a positive integer, but ${process.argv[i + 1]} was provided`);
    process.exit(2);
  }
  return v;
};
const MODELS = arg('models', 10_000);
const VERSIONS = arg('versions', 10_000);
const CALLS = arg('calls', 100);

const stateDir = mkdtempSync(join(tmpdir(), 'bench-registry-scale-'));
const engine = await startDynamoDb({ stateDir });
try {
  const client = new DynamoDBClient({
    endpoint: engine.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  let requests = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      requests++;
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  await createRegistryTable(client, 'registry');
  const store = new DynamoRegistryStore(client, 'registry');
  const registry = new ModelRegistry({ store, events: new RecordingPublisher() });

  const now = Date.now();
  const head = (modelId: string, name: string, extra: Record<string, unknown>): StoredRecord => ({
    modelId,
    name,
    createdAt: now,
    updatedAt: now,
    rev: 0,
    stages: {},
    aliases: {},
    outbox: {},
    ...extra,
  });
  const entries: { ref: RecordRef; record: StoredRecord }[] = [];
  for (let i = 0; i < MODELS; i++) {
    const modelId = `m${String(i).padStart(6, '0')}`;
    const name = `model-${String(i).padStart(5, '0')}`;
    const team = `t${i % 20}`;
    entries.push({ ref: { kind: 'model', modelId }, record: head(modelId, name, { tags: { team }, latest: { None: 1 }, maxVersion: 1 }) });
    entries.push({ ref: { kind: 'modelName', name }, record: { modelId } });
    entries.push({ ref: { kind: 'modelTag', modelId, key: 'team' }, record: { key: 'team', value: team, name } });
    entries.push({
      ref: { kind: 'modelVersion', modelId, version: 1 },
      record: { version: 1, createdAt: now, updatedAt: now, source: `s3://a/${name}/1`, tags: {} },
    });
  }
  // The long-lived model: VERSIONS versions, a few of them moved out of None: the head names the
  // Staging and Production ones, version 17's Archived stage was compacted onto the version itself.
  const bigId = 'big';
  const stages = { [VERSIONS - 3]: { stage: 'Production', at: now }, [VERSIONS - 1]: { stage: 'Staging', at: now } };
  const latest = { None: VERSIONS, Production: VERSIONS - 3, Staging: VERSIONS - 1, Archived: 17 };
  entries.push({ ref: { kind: 'model', modelId: bigId }, record: head(bigId, 'long-lived', { stages, tags: {}, latest, maxVersion: VERSIONS }) });
  entries.push({ ref: { kind: 'modelName', name: 'long-lived' }, record: { modelId: bigId } });
  for (let v = 1; v <= VERSIONS; v++) {
    entries.push({
      ref: { kind: 'modelVersion', modelId: bigId, version: v },
      record: {
        version: v,
        createdAt: now + v,
        updatedAt: now + v,
        source: `s3://a/long-lived/${v}`,
        tags: {},
        ...(v === 17 && { stage: 'Archived', stageAt: now, stageRev: 0 }),
      },
    });
  }
  // The tag index holds every model (no legacy heads left to upgrade).
  entries.push({ ref: { kind: 'upgrade', name: 'modelTagIndex' }, record: { doneAt: now } });
  let t = performance.now();
  for (let i = 0; i < entries.length; i += 2000) await store.putAll(entries.slice(i, i + 2000));
  console.log(`seeded ${MODELS.toLocaleString('en')} models + 1 of ${VERSIONS.toLocaleString('en')} versions (${entries.length.toLocaleString('en')} items) in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const time = async (what: string, call: () => Promise<unknown>, check: (r: any) => void) => {
    check(await call());
    const ms: number[] = [];
    const cpu: number[] = [];
    requests = 0;
    for (let i = 0; i < CALLS; i++) {
      const c = process.cpuUsage();
      t = performance.now();
      await call();
      ms.push(performance.now() - t);
      const used = process.cpuUsage(c);
      cpu.push((used.user + used.system) / 1000);
    }
    const q = (xs: number[], at: number) =>
      [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(at * xs.length) - 1)]!.toFixed(1);
    console.log(
      `${what.padEnd(62)} p50 ${q(ms, 0.5).padStart(7)} ms   p99 ${q(ms, 0.99).padStart(7)} ms   ` +
        `${(requests / CALLS).toFixed(1)} requests   CPU p50 ${q(cpu, 0.5)} ms`,
    );
  };
  const expect = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`wrong answer: ${what}`);
  };
  const first = await registry.searchRegisteredModels({});
  await time('search-registered-models, first page of 100', () => registry.searchRegisteredModels({}), (r) =>
    expect(r.registered_models.length === 100 && r.registered_models[0].name === 'long-lived', 'first page'),
  );
  await time('search-registered-models, next page', () => registry.searchRegisteredModels({ pageToken: first.next_page_token }), (r) =>
    expect(r.registered_models.length === 100 && r.registered_models[0].name === 'model-00099', 'second page'),
  );
  await time("search-registered-models, name LIKE 'model-004%'", () => registry.searchRegisteredModels({ filter: "name LIKE 'model-004%'" }), (r) =>
    expect(r.registered_models.length === 100 && r.registered_models.every((m: { name: string }) => m.name.startsWith('model-004')), 'like'),
  );
  await time("search-registered-models, tags.team = 't3' (500 match)", () => registry.searchRegisteredModels({ filter: "tags.team = 't3'" }), (r) =>
    expect(r.registered_models.length === 100 && r.registered_models.every((m: { tags: { value: string }[] }) => m.tags[0]!.value === 't3') && r.next_page_token !== undefined, 'tag'),
  );
  await time('get-registered-model (10,000 versions)', () => registry.getRegisteredModel('long-lived'), (r) =>
    expect(r.latest_versions.map((v: { version: string }) => v.version).sort().join() === [VERSIONS, VERSIONS - 1, VERSIONS - 3, 17].map(String).sort().join(), 'latest_versions'),
  );
  await time('get-latest-versions (10,000 versions)', () => registry.getLatestVersions({ name: 'long-lived' }), (r) =>
    expect(r.map((v: { version: string; current_stage: string }) => `${v.current_stage}:${v.version}`).sort().join() ===
      [`Archived:17`, `None:${VERSIONS}`, `Production:${VERSIONS - 3}`, `Staging:${VERSIONS - 1}`].join(), 'latest'),
  );
  await time("get-latest-versions (10,000 versions), stages ['Production']", () => registry.getLatestVersions({ name: 'long-lived', stages: ['Production'] }), (r) =>
    expect(r.length === 1 && r[0].version === String(VERSIONS - 3), 'production'),
  );
  client.destroy();
} finally {
  await engine.close();
  rmSync(stateDir, { recursive: true, force: true });
}
