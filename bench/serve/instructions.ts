/**
 * The model server's cost per request in instructions, the figure a loaded machine cannot distort:
 * the kit (this tree's bundle) and bare node:http (the fixed answer, as run.ts's `bare`) each run
 * under `valgrind --tool=callgrind` with SERVER_NODE_OPTIONS, are warmed up, then serve exactly
 * `--requests` predictions over 16 keep-alive connections between a zeroing and a dump of the
 * counters (`callgrind_control -z` / `-d`). Every thread of the process counts (GC helpers included).
 * Every thread counts. Both run with `--no-memory-reducer`: V8's memory reducer starts major GCs
 * on a timer, and under valgrind's ~50x slowdown that is one every ~20,000 requests (~25 k
 * instructions per request over a 5,000-request window holding one), where natively neither
 * server ran a mark-compact in 220,000 requests (`--trace-gc`). The first window after the warm-up
 * still often pays for one (~15 k more per request); the median of 3 repeats is the figure. The ratio kit/bare is the
 * figure to compare revisions by.
 *
 * `--keep DIR` keeps the work directory there (the bundles and a callgrind file per dump, for `callgrind_annotate`).
 *
 * usage: npx tsx bench/serve/instructions.ts [--routes seldon,oip] [--requests 10000] [--warmup 15000] [--repeats 3] [--servers kit,bare] [--keep DIR]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleServer, SERVER_NODE_OPTIONS } from '../../lib/serving/bundle';
import { WINE } from '../../test/serving/helpers';
import { ROUTES } from './requests';

const { values: args } = parseArgs({
  options: {
    routes: { type: 'string', default: 'seldon,oip' },
    requests: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '15000' },
    repeats: { type: 'string', default: '3' },
    servers: { type: 'string', default: 'kit,bare' },
    keep: { type: 'string' },
  },
});
const CONNECTIONS = 16;

/**
 * Sends exactly `n` requests over {@link CONNECTIONS} keep-alive connections, one in flight on each
 * (as wrk does), and returns their status lines and bodies' tally; rejects on a refused connection.
 */
function drive(port: number, path: string, body: string, n: number): Promise<{ ok: number; answer: string }> {
  const raw = Buffer.from(
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  let sent = 0;
  let done = 0;
  let ok = 0;
  let answer = '';
  return new Promise((resolve, reject) => {
    for (let c = 0; c < Math.min(CONNECTIONS, n); c++) {
      const socket = connect(port, '127.0.0.1');
      let buf = '';
      const next = () => {
        if (sent < n) {
          sent++;
          socket.write(raw);
        } else socket.end();
      };
      socket.setEncoding('latin1');
      socket.on('connect', next);
      socket.on('error', reject);
      socket.on('data', (d: string) => {
        buf += d;
        for (;;) {
          const h = buf.indexOf('\r\n\r\n');
          if (h < 0) return;
          const len = Number(/content-length: *(\d+)/i.exec(buf.slice(0, h))?.[1]);
          if (buf.length < h + 4 + len) return;
          if (buf.startsWith('HTTP/1.1 200')) ok++;
          answer = buf.slice(h + 4, h + 4 + len);
          buf = buf.slice(h + 4 + len);
          if (++done === n) resolve({ ok, answer });
          next();
        }
      });
    }
  });
}

async function until(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`server on ${port} exited with ${child.exitCode}`);
    try {
      await drive(port, ROUTES.seldon!.path, ROUTES.seldon!.body, 1);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error(`no server on port ${port} after 300 s`);
}

/** Instructions of the last dump: the `summary:` line of the newest file with `prefix`. */
function lastDump(dir: string, prefix: string): number {
  const files = readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && /\.\d+$/.test(f))
    .sort((a, b) => Number(a.slice(a.lastIndexOf('.') + 1)) - Number(b.slice(b.lastIndexOf('.') + 1)));
  const text = readFileSync(join(dir, files[files.length - 1]!), 'utf8');
  const m = /^summary: (\d+)/m.exec(text);
  if (m === null) throw new Error(`no summary line in ${files[files.length - 1]}`);
  return Number(m[1]);
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'mlops-bench-instr-'));
  const running: ChildProcess[] = [];
  const n = Number(args.requests);
  const routeNames = args.routes.split(',');
  try {
    await mkdir(join(work, 'model'));
    await writeFile(join(work, 'model', 'model.json'), JSON.stringify(WINE));
    await bundleServer(join(work, 'kit.mjs'));
    await writeFile(
      join(work, 'bare.cjs'),
      `const B=JSON.parse(process.env.BARE_ANSWERS);require('node:http').createServer((q,s)=>{const b=B[q.url];q.resume();q.on('end',()=>{s.writeHead(200,{'content-type':'application/json','content-length':Buffer.byteLength(b)});s.end(b)})}).listen(+process.env.PORT,'127.0.0.1');`,
    );
    // valgrind's and callgrind_control's rendezvous names take HOST and USER from the environment.
    const env = { ...process.env, HOST: '127.0.0.1', USER: 'bench', MODEL_URI: join(work, 'model'), MODEL_NAME: 'wine-quality' };
    const start = (name: string, file: string, port: number, extra: Record<string, string>) => {
      const child = spawn(
        'valgrind',
        ['--tool=callgrind', '--smc-check=all-non-file', `--callgrind-out-file=${join(work, `cg.${name}`)}`, 'node', ...SERVER_NODE_OPTIONS, '--no-memory-reducer', file],
        { env: { ...env, ...extra, PORT: String(port) }, stdio: 'ignore' },
      );
      running.push(child);
      return child;
    };
    const names = args.servers.split(',');
    const kitPort = 19401;
    const kit = start('kit', join(work, 'kit.mjs'), kitPort, {});
    await until(kitPort, kit);
    const answers: Record<string, string> = {};
    for (const r of routeNames) answers[ROUTES[r]!.path] = (await drive(kitPort, ROUTES[r]!.path, ROUTES[r]!.body, 1)).answer;
    const servers: { name: string; port: number; child: ChildProcess }[] = [];
    if (names.includes('kit')) servers.push({ name: 'kit', port: kitPort, child: kit });
    if (names.includes('bare')) {
      const bare = start('bare', join(work, 'bare.cjs'), 19402, { BARE_ANSWERS: JSON.stringify(answers) });
      await until(19402, bare);
      servers.push({ name: 'bare', port: 19402, child: bare });
    }
    const figures: Record<string, Record<string, number[]>> = {};
    for (const s of servers) {
      for (const r of routeNames) {
        const route = ROUTES[r]!;
        const warm = await drive(s.port, route.path, route.body, Number(args.warmup));
        if (warm.ok !== Number(args.warmup)) throw new Error(`${s.name} ${r}: ${warm.ok} of ${args.warmup} answered 200`);
        for (let k = 0; k < Number(args.repeats); k++) {
          execFileSync('callgrind_control', ['-z', String(s.child.pid)], { env, stdio: 'ignore' });
          const res = await drive(s.port, route.path, route.body, n);
          execFileSync('callgrind_control', ['-d', String(s.child.pid)], { env, stdio: 'ignore' });
          if (res.ok !== n) throw new Error(`${s.name} ${r}: ${res.ok} of ${n} answered 200`);
          const perRequest = lastDump(work, `cg.${s.name}`) / n;
          ((figures[r] ??= {})[s.name] ??= []).push(perRequest);
          process.stdout.write(`  ${r} ${s.name}: ${(perRequest / 1000).toFixed(1)} k instructions/request\n`);
        }
      }
    }
    process.stdout.write(`\nmedians of ${args.repeats} repeats of ${n} requests, ${CONNECTIONS} connections, node ${SERVER_NODE_OPTIONS.join(' ')} --no-memory-reducer:\n`);
    for (const r of routeNames) {
      const f = figures[r]!;
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
      const line = Object.entries(f).map(([name, xs]) => `${name} ${(median(xs) / 1000).toFixed(1)} k`);
      const ratio = f.kit !== undefined && f.bare !== undefined ? `, kit/bare ${(median(f.kit) / median(f.bare)).toFixed(2)}×` : '';
      process.stdout.write(`  ${r}: ${line.join(', ')} instructions/request${ratio}\n`);
    }
  } finally {
    for (const c of running) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    if (args.keep !== undefined) await cp(work, args.keep, { recursive: true });
    await rm(work, { recursive: true, force: true });
  }
}

await main();
