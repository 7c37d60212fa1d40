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
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '100' },
    clients: { type: 'string', default: '16' },
    'hot-reads': { type: 'string', default: '200' },
    'cold-runs': { type: 'string', default: '7' },
  },
});
const REQUESTS = Number(args.requests);
const WARMUP = Number(args.warmup);
const CLIENTS = Number(args.clients);
const HOT_READS = Number(args['hot-reads']);
const COLD_RUNS = Number(args['cold-runs']);
const MODELS = 16;
const VERSIONS_PER_READ_MODEL = 10;
const MLFLOW = '/api/2.0/mlflow';

const BENCH_ENV = {
  REGISTRY_TABLE_NAME: 'bench-registry',
  ARTIFACTS_BUCKET: 'bench-artifacts',
  EVENT_BUS_NAME: 'bench-bus',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  POWERTOOLS_LOG_LEVEL: 'WARN',
  // The SDK's "Node 20 support ends" notice, printed once per process.
  NODE_NO_WARNINGS: '1',
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

/** `MlopsFunction`'s bundling options (lib/constructs/mlops-function.ts), run with esbuild directly. */
async function bundleHandler(entry: string, outdir: string): Promise<string> {
  const outfile = join(outdir, entry, 'index.mjs');
  await build({
    entryPoints: [join(root, `lambdas/${entry}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    mainFields: ['module', 'main'],
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: 'silent',
  });
  return outfile;
}

function startChild(
  argv: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/registry/child.ts'), ...argv], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on('exit', (code) => reject(new Error(`child ${argv[0]} exited with ${code} before it was ready`)));
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });

interface Reply {
  status: number;
  body: string;
  ms: number;
}

function call(url: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method,
        agent,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            ms: Number(process.hrtime.bigint() - t0) / 1e6,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function ok<T>(reply: Promise<Reply>, what: string): Promise<T> {
  const r = await reply;
  if (r.status !== 200) throw new Error(`${what} failed: ${r.status} ${r.body.slice(0, 300)}`);
  return JSON.parse(r.body) as T;
}

/** `count` requests from `CLIENTS` loops; `next(k)` sends the k-th and checks its answer. */
async function load(count: number, next: (k: number) => Promise<Reply>): Promise<number[]> {
  const latencies: number[] = [];
  let issued = 0;
  const client = async () => {
    while (issued < count) {
      const k = issued++;
      latencies.push((await next(k)).ms);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  return latencies;
}

interface Result {
  scenario: string;
  count: number;
  p50: number;
  p99: number;
  max: number;
  rps: number;
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

let processes: { handler: number; dynamo: number } = { handler: 0, dynamo: 0 };

async function measure(
  scenario: string,
  count: number,
  next: (k: number) => Promise<Reply>,
): Promise<Result> {
  await load(Math.min(WARMUP, count), next);
  const cpu0 = { handler: cpuMs(processes.handler), dynamo: cpuMs(processes.dynamo) };
  const t0 = performance.now();
  const lat = (await load(count, next)).sort((a, b) => a - b);
  const seconds = (performance.now() - t0) / 1000;
  return {
    scenario,
    count: lat.length,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    max: lat[lat.length - 1]!,
    rps: lat.length / seconds,
    handlerCpu: (cpuMs(processes.handler) - cpu0.handler) / lat.length,
    dynamoCpu: (cpuMs(processes.dynamo) - cpu0.dynamo) / lat.length,
  };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Module init of a bundle in a fresh Node process: the import, as Lambda's init phase does it. */
function coldInit(bundle: string, env: Record<string, string>): Promise<number> {
  const code = `const t0 = performance.now(); await import(${JSON.stringify(`file://${bundle}`)}); process.stdout.write(String(performance.now() - t0));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', code], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('exit', (c) => (c === 0 ? resolve(Number(out)) : reject(new Error(`cold init exited ${c}`))));
  });
}

type VersionReply = { model_version: { version: string; current_stage: string } };

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-bench-registry-'));
  const children: ChildProcess[] = [];
  try {
    const bundles = [];
    for (const b of BUNDLES) {
      const file = await bundleHandler(b.entry, dir);
      const cold: number[] = [];
      for (let i = 0; i < COLD_RUNS; i++) cold.push(await coldInit(file, { ...BENCH_ENV, ...b.env }));
      bundles.push({ ...b, file, bytes: statSync(file).size, gz: gzipSync(readFileSync(file)).length, cold });
    }

    const dynamo = await startChild(['dynalite'], BENCH_ENV);
    children.push(dynamo.child);
    const events = await startChild(['events'], BENCH_ENV);
    children.push(events.child);
    const server = await startChild(['server', bundles[0]!.file], {
      ...BENCH_ENV,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: events.url,
    });
    children.push(server.child);
    processes = { handler: server.child.pid!, dynamo: dynamo.child.pid! };
    const url = server.url;

    const createModel = (name: string) =>
      ok(call(url, 'POST', `${MLFLOW}/registered-models/create`, { name }), `create model ${name}`);
    const createVersion = (name: string, k: number) =>
      call(url, 'POST', `${MLFLOW}/model-versions/create`, {
        name,
        source: `s3://bench-artifacts/models/${name}/${k}/model.tar.gz`,
        run_id: `run-${k}`,
      });
    const created = async (reply: Promise<Reply>, what: string): Promise<Reply> => {
      const r = await reply;
      if (r.status !== 200) throw new Error(`${what} failed: ${r.status} ${r.body.slice(0, 300)}`);
      return r;
    };

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
          call(url, 'POST', `${MLFLOW}/model-versions/transition-stage`, {
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
      await measure('POST model-versions/create, 16 models', REQUESTS, (k) =>
        created(createVersion(spread[k % MODELS]!, k), 'create'),
      ),
    );

    const hotVersions: number[] = [];
    results.push(
      await measure('POST model-versions/create, 1 model (contended)', REQUESTS, async (k) => {
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
        url,
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
        REQUESTS,
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
      await measure(`GET get-latest-versions, ${hotVersions.length} versions/model`, HOT_READS, async () => {
        const r = await latest('hot');
        if (r.status !== 200)
          throw new Error(`get-latest-versions (hot): ${r.status} ${r.body.slice(0, 200)}`);
        return r;
      }),
    );

    console.log(
      `\nregistry through the lambdas/registry.ts bundle and dynalite, ${CLIENTS} concurrent clients (keep-alive), warm-up ${WARMUP} per row, Node ${process.version}`,
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
    console.log('\nhandler bundles (ESM, minified, everything bundled, target node20)');
    console.log(
      `| bundle | index.mjs bytes | gzip bytes | cold module init, median of ${COLD_RUNS} (ms) | min | max |`,
    );
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const b of bundles) {
      console.log(
        `| lambdas/${b.entry}.ts (${b.what}) | ${b.bytes} | ${b.gz} | ${median(b.cold).toFixed(1)} | ${Math.min(...b.cold).toFixed(1)} | ${Math.max(...b.cold).toFixed(1)} |`,
      );
    }
  } finally {
    agent.destroy();
    for (const c of children) c.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
