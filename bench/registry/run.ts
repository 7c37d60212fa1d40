/**
 * Registry benchmark: latency of the registry as it ships (the esbuild bundle of
 * `lambdas/registry.ts`, built with `MlopsFunction`'s options) against dynalite, for
 * `POST /api/2.0/mlflow/model-versions/create` and
 * `GET /api/2.0/mlflow/registered-models/get-latest-versions`, plus the size and cold module-init
 * time of the registry's handler bundles.
 *
 * usage: npx tsx bench/registry/run.ts [--requests 2000] [--warmup 100] [--clients 16]
 *                                      [--hot-reads 200] [--cold-runs 7]
 *
 * Scenarios (each after `--warmup` unmeasured requests):
 * - create, 16 models: request k registers a version of model k mod 16;
 * - create, 1 model: every client registers versions of the same model, so the version number
 *   allocation (a conditional put per number) is contended; afterwards the benchmark checks the
 *   numbers handed out are exactly 1..N: no gap, no duplicate;
 * - get-latest-versions (Staging, Production) on 16 models of 10 versions each, checked against
 *   the versions transitioned during seeding;
 * - get-latest-versions on the contended model (2,000+ versions): the core reads the model's whole
 *   partition, so this shows what a long-lived model costs (`--hot-reads` requests).
 *
 * Three processes, so the load generator never shares an event loop with what it measures:
 * dynalite, the bundle behind a bare HTTP → API Gateway proxy-event adapter (one process serving
 * concurrent requests, as the local gateway does), and this one generating load with a keep-alive
 * agent: `--clients` loops each sending its next request when the previous one returned.
 * Promotion events of the seeding transitions go to a stand-in EventBridge endpoint. Loopback only.
 *
 * The CPU columns are each process's CPU time per request (Linux /proc): on a shared two-core
 * machine they say whether the handler or dynalite bounds a row, which latency alone does not.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BenchRun,
  bundleHandler,
  coldInits,
  LOCAL_AWS_ENV,
  type LoadSummary,
  parseCounts,
  printBundles,
  type Reply,
} from '../lib/harness';

const args = parseCounts({ requests: 2000, warmup: 100, clients: 16, 'hot-reads': 200, 'cold-runs': 7 });
const MODELS = 16;
const VERSIONS_PER_READ_MODEL = 10;
const MLFLOW = '/api/2.0/mlflow';

const BENCH_ENV = {
  ...LOCAL_AWS_ENV,
  REGISTRY_TABLE_NAME: 'bench-registry',
  ARTIFACTS_BUCKET: 'bench-artifacts',
  EVENT_BUS_NAME: 'bench-bus',
};

/** The registry's handler bundles, and what each needs in its environment to initialise. */
const BUNDLES = [
  { entry: 'registry', what: 'the registry service', env: {} },
  {
    entry: 'pipeline-register',
    what: "the training pipeline's registry client",
    env: { REGISTRY_URL: 'http://127.0.0.1:9/v1/', REGISTRY_AUTH: 'iam' },
  },
] as const;

/** The reply, once it is a 200. */
async function created(reply: Promise<Reply>, what: string): Promise<Reply> {
  const r = await reply;
  if (r.status !== 200) throw new Error(`${what} failed: ${r.status} ${r.body.slice(0, 300)}`);
  return r;
}

/** The reply's JSON body, once it is a 200. */
async function ok<T>(reply: Promise<Reply>, what: string): Promise<T> {
  return JSON.parse((await created(reply, what)).body) as T;
}

interface Result extends LoadSummary {
  scenario: string;
  /** CPU ms per request of the handler process and of dynalite. */
  handlerCpu: number;
  dynamoCpu: number;
}

/** User + system CPU time of a process in ms, from /proc/<pid>/stat (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  // After "(comm) ", utime and stime are fields 12 and 13 (0-based) of the remainder.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

type VersionReply = { model_version: { version: string; current_stage: string } };

async function main(): Promise<void> {
  const run = await BenchRun.open({
    name: 'registry',
    child: new URL('./child.ts', import.meta.url),
    clients: args.clients,
  });
  try {
    const bundles = [];
    for (const b of BUNDLES) {
      const file = await bundleHandler(b.entry, join(run.dir, b.entry, 'index.mjs'));
      const coldMs = await coldInits(file, { ...BENCH_ENV, ...b.env }, args['cold-runs']);
      bundles.push({ label: `lambdas/${b.entry}.ts (${b.what})`, file, coldMs });
    }

    const dynamo = await run.start(['dynalite'], BENCH_ENV);
    const events = await run.start(['events'], BENCH_ENV);
    const server = await run.start(['server', bundles[0]!.file], {
      ...BENCH_ENV,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: events.url,
    });
    const pids = { handler: server.child.pid!, dynamo: dynamo.child.pid! };
    const call = (method: 'GET' | 'POST', path: string, body?: unknown) =>
      run.http.send(server.url, method, path, body === undefined ? undefined : JSON.stringify(body));

    /** Warm-up, then `count` measured requests with the CPU each process spent on them. */
    const measure = async (
      scenario: string,
      count: number,
      next: (k: number) => Promise<Reply>,
    ): Promise<Result> => {
      await run.http.load(Math.min(args.warmup, count), next);
      const cpu0 = { handler: cpuMs(pids.handler), dynamo: cpuMs(pids.dynamo) };
      const summary = await run.http.measure(count, next);
      return {
        scenario,
        ...summary,
        handlerCpu: (cpuMs(pids.handler) - cpu0.handler) / summary.count,
        dynamoCpu: (cpuMs(pids.dynamo) - cpu0.dynamo) / summary.count,
      };
    };

    const createModel = (name: string) =>
      ok(call('POST', `${MLFLOW}/registered-models/create`, { name }), `create model ${name}`);
    const createVersion = (name: string, k: number) =>
      call('POST', `${MLFLOW}/model-versions/create`, {
        name,
        source: `s3://bench-artifacts/models/${name}/${k}/model.tar.gz`,
        run_id: `run-${k}`,
      });

    // --- Seeding: 16 models to write to, 16 models of 10 versions to read, one contended model.
    const spread = Array.from({ length: MODELS }, (_, i) => `spread-${String(i).padStart(2, '0')}`);
    const readable = Array.from({ length: MODELS }, (_, i) => `read-${String(i).padStart(2, '0')}`);
    for (const name of [...spread, ...readable, 'hot']) await createModel(name);
    for (const name of readable) {
      for (let v = 1; v <= VERSIONS_PER_READ_MODEL; v++) await created(createVersion(name, v), 'seed');
      for (const [version, stage] of [
        [VERSIONS_PER_READ_MODEL - 2, 'Production'],
        [VERSIONS_PER_READ_MODEL, 'Staging'],
      ] as const) {
        await ok(
          call('POST', `${MLFLOW}/model-versions/transition-stage`, {
            name,
            version: String(version),
            stage,
            archive_existing_versions: false,
          }),
          'seed transition',
        );
      }
    }

    const results: Result[] = [];
    results.push(
      await measure('POST model-versions/create, 16 models', args.requests, (k) =>
        created(createVersion(spread[k % MODELS]!, k), 'create'),
      ),
    );

    const hotVersions: number[] = [];
    results.push(
      await measure('POST model-versions/create, 1 model (contended)', args.requests, async (k) => {
        const r = await created(createVersion('hot', k), 'create (contended)');
        hotVersions.push(Number((JSON.parse(r.body) as VersionReply).model_version.version));
        return r;
      }),
    );
    hotVersions.sort((a, b) => a - b);
    if (hotVersions.some((v, i) => v !== i + 1)) {
      throw new Error(`contended creates handed out versions other than 1..${hotVersions.length}`);
    }

    const latest = (name: string) =>
      call(
        'GET',
        `${MLFLOW}/registered-models/get-latest-versions?name=${name}&stages=Staging&stages=Production`,
      );
    const expected = JSON.stringify([
      [String(VERSIONS_PER_READ_MODEL), 'Staging'],
      [String(VERSIONS_PER_READ_MODEL - 2), 'Production'],
    ]);
    results.push(
      await measure(
        `GET get-latest-versions, ${VERSIONS_PER_READ_MODEL} versions/model`,
        args.requests,
        async (k) => {
          const r = await latest(readable[k % MODELS]!);
          const got = (JSON.parse(r.body) as { model_versions: VersionReply['model_version'][] })
            .model_versions;
          const pairs = JSON.stringify(got.map((v) => [v.version, v.current_stage]));
          if (r.status !== 200 || pairs !== expected)
            throw new Error(`get-latest-versions: ${r.status} ${pairs}`);
          return r;
        },
      ),
    );
    results.push(
      await measure(
        `GET get-latest-versions, ${hotVersions.length} versions/model`,
        args['hot-reads'],
        async () => {
          const r = await latest('hot');
          if (r.status !== 200)
            throw new Error(`get-latest-versions (hot): ${r.status} ${r.body.slice(0, 200)}`);
          return r;
        },
      ),
    );

    console.log(
      `\nregistry through the lambdas/registry.ts bundle and dynalite, ${args.clients} concurrent clients (keep-alive), warm-up ${args.warmup} per row, Node ${process.version}`,
    );
    console.log(
      '| scenario | requests | p50 ms | p99 ms | max ms | req/s | handler CPU ms/req | dynalite CPU ms/req |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      console.log(
        `| ${r.scenario} | ${r.count} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.max.toFixed(2)} | ${r.rps.toFixed(0)} | ${r.handlerCpu.toFixed(2)} | ${r.dynamoCpu.toFixed(2)} |`,
      );
    }
    console.log(
      `\ncontended creates: versions 1..${hotVersions.length} handed out exactly once each (no gap, no duplicate)`,
    );
    printBundles('handler bundles', bundles, args['cold-runs']);
  } finally {
    await run.close();
  }
}

await main();
