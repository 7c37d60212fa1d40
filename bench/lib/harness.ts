/**
 * What the handler load benchmarks (bench/features, bench/registry) share, on the load-generating
 * side: a handler bundled as `MlopsFunction` bundles it, its size and cold module-init time, child
 * processes started and awaited, and a keep-alive HTTP client that runs a fixed number of requests
 * from concurrent loops and summarises their latencies.
 *
 * The children (./child-harness.ts) never import this module, so the processes a benchmark
 * measures do not load esbuild or aws-cdk-lib.
 *
 * @example
 * const child = new URL('./child.ts', import.meta.url);
 * const run = await BenchRun.open({ name: 'features', child, clients: 16 });
 * try {
 *   const bundle = await bundleHandler('features', join(run.dir, 'index.mjs'));
 *   const server = await run.start(['server', bundle], LOCAL_AWS_ENV);
 *   const send = () => run.http.send(server.url, 'POST', '/get-online-features', body);
 *   await run.http.load(300, send); // warm-up
 *   const { p50, p99, rps } = await run.http.measure(3000, send);
 * } finally {
 *   await run.close();
 * }
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
import { FUNCTION_ESBUILD_OPTIONS, lambdaEntry, PROJECT_ROOT } from '../../lib/constructs/bundling';

/**
 * What every benchmark process runs with: a region and credentials that only ever reach loopback
 * stand-ins, and quiet logs.
 */
export const LOCAL_AWS_ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  // Powertools would otherwise log every invocation's cold start to stdout.
  POWERTOOLS_LOG_LEVEL: 'WARN',
  // The SDK's "Node 20 support ends" notice, printed once per process.
  NODE_NO_WARNINGS: '1',
};

/**
 * Reads the command line's `--name N` options, one per key of `defaults` (each a whole number, 0
 * or more), falling back to the default for every option not given.
 *
 * @example
 * const { requests, clients } = parseCounts({ requests: 3000, clients: 16 });
 */
export function parseCounts<K extends string>(defaults: Record<K, number>): Record<K, number> {
  const names = Object.keys(defaults) as K[];
  const { values } = parseArgs({
    options: Object.fromEntries(names.map((k) => [k, { type: 'string', default: String(defaults[k]) }])),
  });
  const counts = {} as Record<K, number>;
  for (const k of names) {
    const given = String(values[k]);
    const n = Number(given);
    if (!Number.isInteger(n) || n < 0) {
      throw new Error(`--${k} must be a whole number, 0 or more, but ${JSON.stringify(given)} was provided`);
    }
    counts[k] = n;
  }
  return counts;
}

/**
 * Bundles `lambdas/<entry>.ts` to `outfile` (and `outfile.map`) with `MlopsFunction`'s bundling
 * options, run through esbuild directly: the file a deployed function runs.
 *
 * @example
 * const file = await bundleHandler('registry', join(dir, 'registry', 'index.mjs'));
 */
export async function bundleHandler(entry: string, outfile: string): Promise<string> {
  await build({ ...FUNCTION_ESBUILD_OPTIONS, entryPoints: [lambdaEntry(entry)], outfile, logLevel: 'silent' });
  return outfile;
}

/**
 * Module init of a bundle in a fresh Node process, `runs` times: the import, as Lambda's init
 * phase does it, in ms.
 *
 * @example
 * const cold = await coldInits(file, { ...LOCAL_AWS_ENV, REGISTRY_TABLE_NAME: 't' }, 7);
 */
export async function coldInits(
  bundle: string,
  env: Record<string, string>,
  runs: number,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await coldInit(bundle, env));
  return times;
}

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

/** One row of {@link printBundles}. */
export interface BundleRow {
  /**
   * What the bundle is; the table has a `bundle` column only when rows carry one.
   * @default - no `bundle` column
   */
  readonly label?: string;
  /** The bundle file. */
  readonly file: string;
  /** Cold module-init times in ms (from {@link coldInits}). */
  readonly coldMs: readonly number[];
}

/**
 * Prints a Markdown table of bundle size, gzip size and cold module init (median, min, max).
 *
 * @example
 * printBundles('handler bundles', [{ label: 'lambdas/registry.ts', file, coldMs }], 7);
 */
export function printBundles(subject: string, rows: readonly BundleRow[], coldRuns: number): void {
  const labelled = rows.some((r) => r.label !== undefined);
  const lead = (cell: string) => (labelled ? `| ${cell} ` : '');
  console.log(`\n${subject} (ESM, minified, everything bundled, target ${FUNCTION_ESBUILD_OPTIONS.target})`);
  console.log(
    `${lead('bundle')}| index.mjs bytes | gzip bytes | cold module init, median of ${coldRuns} (ms) | min | max |`,
  );
  console.log(`${labelled ? '|---' : ''}|---:|---:|---:|---:|---:|`);
  for (const r of rows) {
    const bytes = statSync(r.file).size;
    const gzipBytes = gzipSync(readFileSync(r.file)).length;
    const cold = r.coldMs;
    console.log(
      `${lead(r.label ?? '')}| ${bytes} | ${gzipBytes} | ${median(cold).toFixed(1)} | ${Math.min(...cold).toFixed(1)} | ${Math.max(...cold).toFixed(1)} |`,
    );
  }
}

/** The `p`-th percentile (nearest rank) of ascending `sorted`. */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** The upper median of `xs` (any order). */
export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One HTTP exchange, timed from the request's creation to the response's last byte. */
export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly ms: number;
}

/** Latencies of one measured load, in ms. */
export interface LoadSummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Completed requests per second of wall time. */
  readonly rps: number;
}

/**
 * The load generator: a keep-alive agent with one socket per client loop, each loop sending its
 * next request when the previous one returned.
 */
export class LoadGenerator {
  private readonly agent: Agent;

  constructor(readonly clients: number) {
    this.agent = new Agent({ keepAlive: true, maxSockets: clients });
  }

  /**
   * Sends one request; a `payload` goes as `application/json` with its length.
   *
   * @example
   * const r = await http.send(url, 'POST', '/push', JSON.stringify(body));
   */
  send(url: string, method: 'GET' | 'POST', path: string, payload?: string): Promise<Reply> {
    const t0 = process.hrtime.bigint();
    return new Promise((resolve, reject) => {
      const req = request(
        `${url}${path}`,
        {
          method,
          agent: this.agent,
          headers:
            payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
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

  /**
   * `count` requests from {@link clients} loops; `next(k)` sends the k-th and checks its answer
   * (throwing fails the load). Returns the latencies in completion order.
   *
   * @example
   * await http.load(100, (k) => http.send(url, 'GET', `/items/${k}`)); // warm-up
   */
  async load(count: number, next: (k: number) => Promise<Reply>): Promise<number[]> {
    const latencies: number[] = [];
    let issued = 0;
    const client = async () => {
      while (issued < count) {
        const k = issued++;
        latencies.push((await next(k)).ms);
      }
    };
    await Promise.all(Array.from({ length: this.clients }, client));
    return latencies;
  }

  /**
   * {@link load}, timed and summarised.
   *
   * @example
   * const { p50, p99, rps } = await http.measure(2000, next);
   */
  async measure(count: number, next: (k: number) => Promise<Reply>): Promise<LoadSummary> {
    const t0 = performance.now();
    const lat = (await this.load(count, next)).sort((a, b) => a - b);
    const seconds = (performance.now() - t0) / 1000;
    return {
      count: lat.length,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      max: lat[lat.length - 1]!,
      rps: lat.length / seconds,
    };
  }

  /** Closes the kept-alive sockets. */
  close(): void {
    this.agent.destroy();
  }
}

/** A started child: the process, and the URL it printed in its `ready <url>` line. */
export interface StartedChild {
  readonly child: ChildProcess;
  readonly url: string;
}

/** How {@link BenchRun.open} sets a run up. */
export interface BenchRunOptions {
  /** Names the scratch directory, `mlops-bench-<name>-…` under the OS temp dir. */
  readonly name: string;
  /** The benchmark's child script (run with tsx), whose first argument names the role. */
  readonly child: URL;
  /** Concurrent client loops of the load generator. */
  readonly clients: number;
}

/**
 * What one benchmark run holds open and {@link close} releases: a scratch directory, the child
 * processes it started, and the load generator.
 */
export class BenchRun {
  private readonly children: ChildProcess[] = [];
  readonly http: LoadGenerator;

  private constructor(
    readonly dir: string,
    private readonly script: string,
    clients: number,
  ) {
    this.http = new LoadGenerator(clients);
  }

  /**
   * Creates the scratch directory and the load generator.
   *
   * @example
   * const run = await BenchRun.open({ name: 'registry', child: new URL('./child.ts', import.meta.url), clients });
   */
  static async open(options: BenchRunOptions): Promise<BenchRun> {
    const dir = await mkdtemp(join(tmpdir(), `mlops-bench-${options.name}-`));
    return new BenchRun(dir, fileURLToPath(options.child), options.clients);
  }

  /**
   * Starts the child script with `argv` and `env` (over this process's environment) and waits for
   * its `ready <url>` line; {@link close} stops it.
   *
   * @example
   * const dynamo = await run.start(['dynalite'], env);
   */
  start(argv: string[], env: Record<string, string>): Promise<StartedChild> {
    const child = spawn(process.execPath, ['--import', 'tsx', this.script, ...argv], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.children.push(child);
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

  /** Closes the load generator, stops the children and removes the scratch directory. */
  async close(): Promise<void> {
    this.http.close();
    for (const c of this.children) c.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** One state's span in an execution: when it was entered and exited (ms since the epoch). */
export interface StateSpan {
  readonly name: string;
  readonly from: number;
  readonly to: number;
}

/** Each state's span from an execution's history events (GetExecutionHistory's `events`), in exit order. */
export function stateSpans(events: readonly Record<string, unknown>[]): StateSpan[] {
  const entered = new Map<string, number>();
  const spans: StateSpan[] = [];
  for (const e of events) {
    const details = (e['stateEnteredEventDetails'] ?? e['stateExitedEventDetails']) as { name: string } | undefined;
    if (!details) continue;
    const at = Date.parse(String(e['timestamp']));
    if (String(e['type']).endsWith('StateEntered')) entered.set(details.name, at);
    else spans.push({ name: details.name, from: entered.get(details.name) ?? at, to: at });
  }
  return spans;
}
