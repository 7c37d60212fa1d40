/**
 * Serving benchmark: the kit's model server against a bare Node HTTP server answering a fixed body
 * (the ceiling for any Node server on this machine) and the FastAPI + scikit-learn reference
 * (`peers/peer_server.py`), side by side, same request, same load generator.
 *
 * usage: npx tsx bench/serve/run.ts [--duration 10] [--warmup 3] [--connections 16] [--threads 2] [--no-pin] [--only kit,bare,fastapi]
 *
 * Load: wrk (Debian's `wrk`), POST /api/v1.0/predictions with one wine row as a Seldon ndarray.
 * Each server runs as one process; with two or more cores and `taskset`, servers are pinned to
 * CPU 0 and wrk to CPU 1, the same for all three, so the load generator does not steal the
 * server's core. The kit runs as the esbuild bundle the container image runs.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WINE_COLUMNS, WINE_CSV_PATH, WINE_TARGET } from '../../lib/datasets/wine';
import { MODEL_FORMAT } from '../../lib/model/format';
import { bundleServer } from '../../lib/serving/bundle';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    connections: { type: 'string', default: '16' },
    threads: { type: 'string', default: '2' },
    'no-pin': { type: 'boolean', default: false },
    only: { type: 'string', default: 'kit,bare,fastapi' },
  },
});

// The wine features in the CSV's column order and under its header's names, as the peer fits them.
const FEATURES = WINE_COLUMNS.filter((c) => c.name !== WINE_TARGET).map((c) => c.header);
// scikit-learn ElasticNet(alpha=0.5, l1_ratio=0.5) fitted on lib/datasets/winequality-red.csv, which
// is what the FastAPI peer fits at start-up: the two servers should predict the same value.
const COEF = [0, 0, 0, 0, 0, 0.003966445573306644, -0.004528801175314565, 0, 0, 0, 0.09384583680745728];
const INTERCEPT = 4.805345320962752;
const ROW = [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4];
const BODY = JSON.stringify({ data: { ndarray: [ROW] } });
const PATH = '/api/v1.0/predictions';

interface Result {
  readonly server: string;
  readonly rps: number;
  readonly p50ms: number;
  readonly p99ms: number;
  readonly requests: number;
  readonly errors: number;
}

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const pin = !args['no-pin'] && has('taskset') && availableParallelism() >= 2;
const onCpu = (cpu: number, cmd: string, cmdArgs: string[]): [string, string[]] =>
  pin ? ['taskset', ['-c', String(cpu), cmd, ...cmdArgs]] : [cmd, cmdArgs];

function post(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: PATH,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.end(BODY);
  });
}

async function waitUntilServing(port: number, child: ChildProcess, name: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before serving`);
    try {
      const res = await post(port);
      if (res.status === 200) return res.body;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} did not answer on port ${port} within 60 s`);
}

function parseDuration(s: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(s.trim());
  if (m === null) throw new Error(`cannot parse wrk latency ${JSON.stringify(s)}`);
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as 'us' | 'ms' | 's' | 'm'];
  return Number(m[1]) * scale;
}

/** Reads wrk's `--latency` report. */
export function parseWrk(out: string): Omit<Result, 'server'> {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  const total = /(\d+) requests in/.exec(out);
  if (rps === null || p50 === null || p99 === null || total === null)
    throw new Error(`cannot parse wrk output:\n${out}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors =
    Number(non2xx?.[1] ?? 0) + (socket === null ? 0 : socket.slice(1).reduce((a, b) => a + Number(b), 0));
  return {
    rps: Number(rps[1]),
    p50ms: parseDuration(p50[1]!),
    p99ms: parseDuration(p99[1]!),
    requests: Number(total[1]),
    errors,
  };
}

function wrk(port: number, seconds: string, script: string): string {
  const [cmd, cmdArgs] = onCpu(1, 'wrk', [
    `-t${args.threads}`,
    `-c${args.connections}`,
    `-d${seconds}s`,
    '--latency',
    '-s',
    script,
    `http://127.0.0.1:${port}${PATH}`,
  ]);
  return execFileSync(cmd, cmdArgs, { encoding: 'utf8' });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  if (!has('wrk'))
    throw new Error('wrk is not installed: run `bash ../shared/peers/install.sh` (Debian packages)');
  const work = await mkdtemp(join(tmpdir(), 'mlops-bench-serve-'));
  const script = join(work, 'post.lua');
  // A long bracket with a level that cannot occur in the body (which contains "]]").
  await writeFile(
    script,
    `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[${BODY}]==]\n`,
  );
  const modelDir = join(work, 'model');
  await mkdir(modelDir);
  await writeFile(
    join(modelDir, 'model.json'),
    JSON.stringify({
      format: MODEL_FORMAT,
      algorithm: 'elasticnet',
      features: FEATURES,
      target: 'quality',
      coefficients: COEF,
      intercept: INTERCEPT,
      hyperparameters: { alpha: 0.5, l1_ratio: 0.5, max_iter: 1000, tol: 0.0001 },
      metrics: { train: { rmse: 0.7516, mae: 0.608, r2: 0.1332, rows: 1599 } },
      fit: { iterations: 0, converged: true, dual_gap: 0, seconds: 0 },
      data_version: null,
      warnings: [],
      created_at: new Date().toISOString(),
    }),
  );
  const bundle = join(work, 'server.mjs');
  await bundleServer(bundle);
  const kitBody = JSON.stringify({
    data: { names: [], ndarray: [ROW.reduce((y, v, j) => y + v * COEF[j]!, INTERCEPT)] },
    meta: {},
  });
  const bare = `require('node:http').createServer((q,s)=>{q.resume();q.on('end',()=>{s.writeHead(200,{'content-type':'application/json','content-length':Buffer.byteLength(B)});s.end(B)})}).listen(+process.env.PORT,'127.0.0.1');const B=${JSON.stringify(kitBody)};`;

  const servers: Record<
    string,
    { port: number; start: (port: number) => [string, string[], NodeJS.ProcessEnv] }
  > = {
    kit: {
      port: 19101,
      start: (port) => [
        'node',
        [bundle],
        {
          ...process.env,
          MODEL_URI: modelDir,
          MODEL_NAME: 'wine-quality',
          PORT: String(port),
          HOST: '127.0.0.1',
        },
      ],
    },
    bare: { port: 19102, start: (port) => ['node', ['-e', bare], { ...process.env, PORT: String(port) }] },
    fastapi: {
      port: 19103,
      start: (port) => [
        // Debian's interpreter, where install.sh puts scikit-learn and FastAPI (a pyenv python3 on PATH has neither).
        existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3',
        [
          join(root, 'bench/serve/peers/peer_server.py'),
          'fastapi',
          WINE_CSV_PATH,
          '--sep',
          ';',
          '--target',
          'quality',
          '--port',
          String(port),
        ],
        process.env,
      ],
    },
  };
  const labels: Record<string, string> = {
    kit: 'mlops-kit model server',
    bare: 'bare node:http (fixed body)',
    fastapi: 'FastAPI + scikit-learn',
  };

  const results: Result[] = [];
  const answers: Record<string, string> = {};
  process.stdout.write(
    `wrk -t${args.threads} -c${args.connections} -d${args.duration}s (warm-up ${args.warmup}s), ${pin ? 'server on CPU 0, wrk on CPU 1' : 'unpinned'}, body ${BODY.length} B\n`,
  );
  try {
    for (const name of args.only.split(',')) {
      const s = servers[name];
      if (s === undefined) throw new Error(`unknown server ${name}`);
      const [cmd, cmdArgs, env] = s.start(s.port);
      const [pcmd, pargs] = onCpu(0, cmd, cmdArgs);
      const child = spawn(pcmd, pargs, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      try {
        answers[name] = await waitUntilServing(s.port, child, name);
        if (Number(args.warmup) > 0) wrk(s.port, args.warmup, script);
        const r = { server: labels[name]!, ...parseWrk(wrk(s.port, args.duration, script)) };
        results.push(r);
        process.stdout.write(
          `  ${name}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50ms.toFixed(3)} ms, p99 ${r.p99ms.toFixed(3)} ms, ${r.errors} errors\n`,
        );
      } catch (err) {
        process.stderr.write(`${name} failed: ${(err as Error).message}\n${stderr.slice(-2000)}\n`);
      } finally {
        await stop(child);
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }

  // The kit and the peer fit the same model: their answers should agree.
  if (answers.kit !== undefined && answers.fastapi !== undefined) {
    const k = JSON.parse(answers.kit).data.ndarray[0] as number;
    const f = JSON.parse(answers.fastapi).data.ndarray[0] as number;
    process.stdout.write(
      `prediction parity: kit ${k}, FastAPI ${f}, |Δ| ${Math.abs(k - f).toExponential(2)}\n`,
    );
  }
  const bareRps = results.find((r) => r.server === labels.bare)?.rps;
  const fastRps = results.find((r) => r.server === labels.fastapi)?.rps;
  const rows = results.map((r) => [
    r.server,
    r.rps.toFixed(0),
    r.p50ms.toFixed(3),
    r.p99ms.toFixed(3),
    bareRps === undefined ? '–' : `${((100 * r.rps) / bareRps).toFixed(0)} %`,
    fastRps === undefined ? '–' : `${(r.rps / fastRps).toFixed(1)}×`,
    String(r.errors),
  ]);
  const head = ['server', 'req/s', 'p50 ms', 'p99 ms', '% of bare', '× FastAPI', 'errors'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  process.stdout.write(
    `\n${line(head)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`,
  );
  const kit = results.find((r) => r.server === labels.kit);
  if (kit !== undefined) {
    const checks = [
      bareRps === undefined
        ? undefined
        : `throughput ≥ 60 % of bare: ${kit.rps >= 0.6 * bareRps ? 'met' : 'MISSED'}`,
      fastRps === undefined
        ? undefined
        : `throughput ≥ 8× FastAPI: ${kit.rps >= 8 * fastRps ? 'met' : 'MISSED'}`,
      `p99 ≤ 2 ms: ${kit.p99ms <= 2 ? 'met' : 'MISSED'}`,
    ].filter(Boolean);
    process.stdout.write(`\ntargets: ${checks.join('; ')}\n`);
  }
}

await main();
