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
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WINE_CSV_PATH } from '../../lib/datasets/wine';
import { WINE_FEATURE_NAMES } from '../../lib/features/wine';
import {
  BenchRun,
  bundleHandler,
  coldInits,
  LOCAL_AWS_ENV,
  type LoadGenerator,
  type LoadSummary,
  parseCounts,
  printBundles,
  type Reply,
} from '../lib/harness';

const args = parseCounts({ requests: 3000, warmup: 300, clients: 16, 'cold-runs': 7 });
const BATCHES = [1, 10, 100] as const;
const TABLE = 'bench-online';
const BENCH_ENV = {
  ...LOCAL_AWS_ENV,
  ONLINE_TABLE_NAME: TABLE,
  OFFLINE_BUCKET: 'bench-lake',
  OFFLINE_PREFIX: 'features',
};

function wineRows(): number[][] {
  const lines = readFileSync(WINE_CSV_PATH, 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => l.split(';').slice(0, WINE_FEATURE_NAMES.length).map(Number));
}

async function seed(http: LoadGenerator, url: string, rows: number[][]): Promise<void> {
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
    const res = await http.send(
      url,
      'POST',
      '/push',
      JSON.stringify({ push_source_name: 'wine_push', df, to: 'online' }),
    );
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

async function main(): Promise<void> {
  const run = await BenchRun.open({
    name: 'features',
    child: new URL('./child.ts', import.meta.url),
    clients: args.clients,
  });
  try {
    const bundle = await bundleHandler('features', join(run.dir, 'index.mjs'));

    const dynamo = await run.start(['dynalite'], BENCH_ENV);
    const env = {
      ...BENCH_ENV,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9',
    };
    const cold = await coldInits(bundle, env, args['cold-runs']);

    const server = await run.start(['server', bundle], env);
    const rows = wineRows();
    await seed(run.http, server.url, rows);

    const results: (LoadSummary & { n: number })[] = [];
    for (const n of BATCHES) {
      const send = () => run.http.send(server.url, 'POST', '/get-online-features', lookupBody(n, rows.length));
      const lookup = async (): Promise<Reply> => {
        const res = await send();
        if (res.status !== 200) throw new Error(`lookup failed: ${res.status} ${res.body.slice(0, 200)}`);
        return res;
      };
      checkLookup((await send()).body, n);
      await run.http.load(args.warmup, lookup);
      const count = n === 100 ? Math.ceil(args.requests / 3) : args.requests;
      results.push({ n, ...(await run.http.measure(count, lookup)) });
    }

    console.log(
      `\nfeature server lookups: ${rows.length} wine rows in dynalite, ${WINE_FEATURE_NAMES.length} features, ${args.clients} concurrent clients (keep-alive), Node ${process.version}`,
    );
    console.log('| entities | requests | p50 ms | p99 ms | req/s |');
    console.log('|---:|---:|---:|---:|---:|');
    for (const r of results) {
      console.log(
        `| ${r.n} | ${r.count} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.rps.toFixed(0)} |`,
      );
    }
    printBundles('lambdas/features.ts bundle', [{ file: bundle, coldMs: cold }], args['cold-runs']);
  } finally {
    await run.close();
  }
}

await main();
