/**
 * A/B of the model server's cost per request: the kit (this tree's bundle) against bare node:http,
 * and optionally against the kit of another git revision, in short slices that alternate between
 * the servers so a neighbour's load drifting over the run falls on all of them alike.
 *
 * Per slice and server: CPU time per request (the process's getrusage, read by the server itself)
 * and scavenges per 1,000 requests. The latter does not depend on the machine's load at all: with
 * the 1 MiB semi-space of SERVER_NODE_OPTIONS it is the request path's garbage, measured.
 *
 * usage: npx tsx bench/serve/ab.ts [--route seldon|oip] [--slices 8] [--seconds 3] [--against <git rev>]
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleServer, SERVER_NODE_OPTIONS } from '../../lib/serving/bundle';
import { WINE } from '../../test/serving/helpers';
import { ROUTES } from './requests';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values: args } = parseArgs({
  options: {
    route: { type: 'string', default: 'seldon' },
    slices: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '3' },
    against: { type: 'string' },
  },
});
const route = ROUTES[args.route];
if (route === undefined) throw new Error(`--route must be seldon or oip, but ${args.route} was provided`);

/** Preloaded into every server: counts scavenges, and on SIGUSR2 writes them with the CPU time so far. */
const PROBE = `const { PerformanceObserver, constants } = require('node:perf_hooks');
let minor = 0;
new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++; }).observe({ entryTypes: ['gc'] });
process.on('SIGUSR2', () => { const c = process.cpuUsage(); require('node:fs').writeFileSync(process.env.PROBE_OUT, JSON.stringify({ minor, cpuUs: c.user + c.system })); });
process.on('SIGTERM', () => process.exit(0));`;

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'mlops-bench-ab-'));
  workDir = work;
  const running: ChildProcess[] = [];
  try {
    await mkdir(join(work, 'model'));
    await writeFile(join(work, 'model', 'model.json'), JSON.stringify(WINE));
    await writeFile(join(work, 'probe.cjs'), PROBE);
    await writeFile(join(work, 'load.lua'), `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[${route.body}]==]\n`);
    const servers: { name: string; file: string; port: number }[] = [];
    await bundleServer(join(work, 'kit.mjs'));
    servers.push({ name: 'kit', file: join(work, 'kit.mjs'), port: 19301 });
    if (args.against !== undefined) {
      // The other revision's lib/, bundled the same way against this tree's node_modules.
      const tree = join(work, 'against');
      await mkdir(tree);
      execFileSync('sh', ['-c', `git -C ${JSON.stringify(root)} archive ${JSON.stringify(args.against)} lib | tar -x -C ${JSON.stringify(tree)}`]);
      await bundleServer(join(work, 'against.mjs'), {
        entry: join(tree, 'lib/serving/entry.ts'),
        nodePaths: [join(root, 'node_modules')],
      });
      servers.push({ name: args.against.slice(0, 10), file: join(work, 'against.mjs'), port: 19302 });
    }
    // The bare server answers what the kit answers, as bench/serve/run.ts's does.
    await writeFile(join(work, 'bare.cjs'), `let B;require('node:http').createServer((q,s)=>{q.resume();q.on('end',()=>{s.writeHead(200,{'content-type':'application/json','content-length':Buffer.byteLength(B)});s.end(B)})}).listen(+process.env.PORT,'127.0.0.1');process.on('message',(m)=>{B=m});`);
    servers.push({ name: 'bare', file: join(work, 'bare.cjs'), port: 19303 });

    for (const s of servers) {
      const child = spawn('taskset', ['-c', '0', 'node', ...SERVER_NODE_OPTIONS, '--require', join(work, 'probe.cjs'), s.file], {
        env: { ...process.env, MODEL_URI: join(work, 'model'), MODEL_NAME: 'wine-quality', PORT: String(s.port), HOST: '127.0.0.1', PROBE_OUT: join(work, `${s.name}.json`) },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      running.push(child);
      if (s.name === 'bare') child.send(await post(servers[0]!.port));
      await waitFor(s.port);
      wrk(s.port, 2);
    }
    const probe = async (i: number) => {
      running[i]!.kill('SIGUSR2');
      await new Promise((r) => setTimeout(r, 150));
      return JSON.parse(await readFile(join(work, `${servers[i]!.name}.json`), 'utf8')) as { minor: number; cpuUs: number };
    };
    const results = servers.map(() => [] as { cpuUs: number; scavengesPerK: number }[]);
    for (let slice = 0; slice < Number(args.slices); slice++) {
      const order = servers.map((_, i) => i);
      if (slice % 2 === 1) order.reverse();
      for (const i of order) {
        const before = await probe(i);
        const requests = wrk(servers[i]!.port, Number(args.seconds));
        const after = await probe(i);
        results[i]!.push({ cpuUs: (after.cpuUs - before.cpuUs) / requests, scavengesPerK: ((after.minor - before.minor) * 1000) / requests });
      }
    }
    const bare = results[servers.length - 1]!;
    process.stdout.write(`${args.route}, ${args.slices} slices of ${args.seconds} s, 16 connections, load average ${loadavg()}\n`);
    servers.forEach((s, i) => {
      const r = results[i]!;
      const ratios = r.map((x, k) => x.cpuUs / bare[k]!.cpuUs);
      process.stdout.write(
        `  ${s.name.padEnd(10)} CPU ${median(r.map((x) => x.cpuUs)).toFixed(1)} µs/request (per slice ${r.map((x) => x.cpuUs.toFixed(1)).join(' ')}), ` +
          `${median(ratios).toFixed(2)}× bare's (median of paired slices), scavenges per 1,000 requests ${median(r.map((x) => x.scavengesPerK)).toFixed(2)}\n`,
      );
    });
  } finally {
    for (const c of running) c.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
}

function wrk(port: number, seconds: number): number {
  const out = execFileSync('taskset', ['-c', '1', 'wrk', '-t2', '-c16', `-d${seconds}s`, '-s', join(tmpdirOf(), 'load.lua'), `http://127.0.0.1:${port}${route!.path}`], { encoding: 'utf8' });
  return Number(/(\d+) requests in/.exec(out)![1]);
}

let workDir = '';
const tmpdirOf = () => workDir;

function post(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: route!.path, headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end(route!.body);
  });
}

async function waitFor(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/ready' }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`no server on port ${port} after 30 s`);
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function loadavg(): string {
  return execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');
}

await main();
