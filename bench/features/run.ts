/**
 * Feature store benchmark: online lookup latency of the feature server as it ships (the esbuild
 * bundle of `lambdas/features.ts`, built with `MlopsFunction`'s options) against dynalite seeded
 * with the 1,599 wine rows, plus the bundle's size and cold module-init time.
 *
 * usage: npx tsx bench/features/run.ts [--requests 3000] [--warmup 300] [--clients 16] [--cold-runs 7]
 *
 * Three processes, so the load generator never shares an event loop with what it measures:
 * dynalite, the bundle behind a bare HTTP → API Gateway proxy-event adapter (one process serving
 * concurrent requests, as the local gateway does), and this one generating load with a keep-alive
 * agent: `--clients` loops each sending its next request when the previous one returned.
 * Seeding goes through the bundle's own `POST /push` (to: online). Loopback only.
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
import { WINE_CSV_PATH } from '../../lib/datasets/wine';
import { WINE_FEATURE_NAMES } from '../../lib/features/wine';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    warmup: { type: 'string', default: '300' },
    clients: { type: 'string', default: '16' },
    'cold-runs': { type: 'string', default: '7' },
  },
});
const REQUESTS = Number(args.requests);
const WARMUP = Number(args.warmup);
const CLIENTS = Number(args.clients);
const COLD_RUNS = Number(args['cold-runs']);
const BATCHES = [1, 10, 100] as const;
const TABLE = 'bench-online';
const BENCH_ENV = {
  ONLINE_TABLE_NAME: TABLE,
  OFFLINE_BUCKET: 'bench-lake',
  OFFLINE_PREFIX: 'features',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  // Powertools would otherwise log every invocation's cold start to stdout.
  POWERTOOLS_LOG_LEVEL: 'WARN',
  // The SDK's "Node 20 support ends" notice, printed once per process.
  NODE_NO_WARNINGS: '1',
};

/** `MlopsFunction`'s bundling options (lib/constructs/mlops-function.ts), run with esbuild directly. */
async function bundleHandler(outdir: string): Promise<string> {
  const outfile = join(outdir, 'index.mjs');
  await build({
    entryPoints: [join(root, 'lambdas/features.ts')],
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
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/features/child.ts'), ...argv], {
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

function post(
  url: string,
  path: string,
  body: string,
): Promise<{ status: number; body: string; ms: number }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
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
    req.end(body);
  });
}

function wineRows(): number[][] {
  const lines = readFileSync(WINE_CSV_PATH, 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => l.split(';').slice(0, WINE_FEATURE_NAMES.length).map(Number));
}

async function seed(url: string, rows: number[][]): Promise<void> {
  const now = new Date().toISOString();
  for (let i = 0; i < rows.length; i += 200) {
    const part = rows.slice(i, i + 200);
    const df: Record<string, unknown[]> = {
      wine_id: part.map((_, j) => i + j + 1),
      event_timestamp: part.map(() => now),
      created: part.map(() => now),
    };
    WINE_FEATURE_NAMES.forEach((name, k) => {
      df[name] = part.map((r) => r[k]);
    });
    const res = await post(url, '/push', JSON.stringify({ push_source_name: 'wine_push', df, to: 'online' }));
    if (res.status !== 200) throw new Error(`seeding failed: ${res.status} ${res.body}`);
  }
}

const lookupBody = (n: number, total: number) => {
  const ids = Array.from({ length: n }, () => 1 + Math.floor(Math.random() * total));
  return JSON.stringify({ feature_service: 'wine_quality_v1', entities: { wine_id: ids } });
};

/** Checks one response has every requested feature PRESENT for every entity. */
function checkLookup(body: string, n: number): void {
  const res = JSON.parse(body) as { results: { values: unknown[]; statuses: string[] }[] };
  // Feast's shape: the entity column first, then one column per feature.
  if (res.results.length !== 1 + WINE_FEATURE_NAMES.length)
    throw new Error(`unexpected result: ${body.slice(0, 200)}`);
  for (const col of res.results.slice(1)) {
    if (col.values.length !== n || col.statuses.some((s) => s !== 'PRESENT')) {
      throw new Error(`lookup of ${n} entities did not return ${n} PRESENT values: ${body.slice(0, 300)}`);
    }
  }
}

async function load(url: string, n: number, total: number, count: number): Promise<number[]> {
  const latencies: number[] = [];
  let issued = 0;
  const client = async () => {
    while (issued < count) {
      issued++;
      const res = await post(url, '/get-online-features', lookupBody(n, total));
      if (res.status !== 200) throw new Error(`lookup failed: ${res.status} ${res.body.slice(0, 200)}`);
      latencies.push(res.ms);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  return latencies;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Module init of the bundle in a fresh Node process: the import, as Lambda's init phase does it. */
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

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-bench-features-'));
  const children: ChildProcess[] = [];
  try {
    const bundle = await bundleHandler(dir);
    const bytes = statSync(bundle).size;
    const gzBytes = gzipSync(readFileSync(bundle)).length;

    const dynamo = await startChild(['dynalite'], BENCH_ENV);
    children.push(dynamo.child);
    const env = {
      ...BENCH_ENV,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9',
    };

    const cold: number[] = [];
    for (let i = 0; i < COLD_RUNS; i++) cold.push(await coldInit(bundle, env));

    const server = await startChild(['server', bundle], env);
    children.push(server.child);
    const rows = wineRows();
    await seed(server.url, rows);

    const results: { n: number; p50: number; p99: number; rps: number; count: number }[] = [];
    for (const n of BATCHES) {
      const probe = await post(server.url, '/get-online-features', lookupBody(n, rows.length));
      checkLookup(probe.body, n);
      await load(server.url, n, rows.length, WARMUP);
      const count = n === 100 ? Math.ceil(REQUESTS / 3) : REQUESTS;
      const t0 = performance.now();
      const lat = (await load(server.url, n, rows.length, count)).sort((a, b) => a - b);
      const seconds = (performance.now() - t0) / 1000;
      results.push({ n, p50: pct(lat, 50), p99: pct(lat, 99), rps: lat.length / seconds, count: lat.length });
    }

    console.log(
      `\nfeature server lookups: ${rows.length} wine rows in dynalite, ${WINE_FEATURE_NAMES.length} features, ${CLIENTS} concurrent clients (keep-alive), Node ${process.version}`,
    );
    console.log('| entities | requests | p50 ms | p99 ms | req/s |');
    console.log('|---:|---:|---:|---:|---:|');
    for (const r of results) {
      console.log(
        `| ${r.n} | ${r.count} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.rps.toFixed(0)} |`,
      );
    }
    console.log('\nlambdas/features.ts bundle (ESM, minified, everything bundled, target node20)');
    console.log(
      '| index.mjs bytes | gzip bytes | cold module init, median of ' + `${COLD_RUNS} (ms) | min | max |`,
    );
    console.log('|---:|---:|---:|---:|---:|');
    console.log(
      `| ${bytes} | ${gzBytes} | ${median(cold).toFixed(1)} | ${Math.min(...cold).toFixed(1)} | ${Math.max(...cold).toFixed(1)} |`,
    );
  } finally {
    agent.destroy();
    for (const c of children) c.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
