/**
 * A/B of a cold `npx cdk synth` of all three environments: this tree against another git revision,
 * in pairs of runs whose order alternates, so a neighbour's load drifting over the run falls on both
 * alike. Each run has an empty kit cache (MLOPS_CACHE_DIR) and outdir of its own.
 *
 * Per run: wall time, and the CPU time of every process the run started, sampled from /proc every
 * 50 ms (Linux): the CDK CLI, the app (its main thread, the validation worker and V8's helper
 * threads) and the esbuild service (also printed alone), which `/usr/bin/time` in bench/synth/run.ts does not see (it
 * outlives the app and is never reaped by it). CPU time is the figure a loaded machine disturbs
 * least; the paired ratios (this tree / the other) are printed per pair and as a median.
 *
 * The other revision is `git archive`d into a temporary directory that shares this tree's
 * node_modules; its asset hashes differ from this tree's (the bundles' source maps name their
 * sources relative to the checkout), which changes no timing.
 *
 *   npx tsx bench/synth/ab.ts --against <git rev> [--pairs 2]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { values: args } = parseArgs({ options: { against: { type: 'string' }, pairs: { type: 'string', default: '2' } } });
if (!args.against) throw new Error('--against <git rev> is required');
const pairs = Number(args.pairs);
if (!Number.isInteger(pairs) || pairs < 1) throw new Error(`--pairs must be a positive integer, but ${args.pairs} was provided`);

const work = mkdtempSync(join(tmpdir(), 'mlops-synth-ab-'));
const other = join(work, 'other');
execFileSync('mkdir', [other]);
execFileSync('sh', ['-c', `git archive ${JSON.stringify(args.against)} | tar -x -C ${JSON.stringify(other)}`], { cwd: root });
symlinkSync(join(root, 'node_modules'), join(other, 'node_modules'));
const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** utime + stime (s), parent and command name of every process, from /proc. */
function processes(): Map<number, { ppid: number; cpu: number; comm: string }> {
  const out = new Map<number, { ppid: number; cpu: number; comm: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      out.set(Number(name), { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / TICK, comm });
    } catch {
      // Gone since the listing.
    }
  }
  return out;
}

interface Run {
  wall: number;
  cpu: number;
  /** Of `cpu`, the esbuild service's. */
  esbuild: number;
}

/** One cold `npx cdk synth` in `cwd`: wall time and the CPU of every process it started. */
async function coldSynth(cwd: string): Promise<Run> {
  const dir = mkdtempSync(join(work, 'run-'));
  const start = performance.now();
  const child = spawn('npx', ['cdk', 'synth', '--quiet', '--output', join(dir, 'out')], {
    cwd,
    env: { ...process.env, MLOPS_CACHE_DIR: join(dir, 'cache') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const known = new Set([child.pid!]);
  const cpu = new Map<number, number>();
  const esbuildPids = new Set<number>();
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  while (code === undefined) {
    for (const [pid, p] of processes()) {
      if (known.has(pid) || known.has(p.ppid)) {
        known.add(pid);
        cpu.set(pid, p.cpu);
        if (p.comm === 'esbuild') esbuildPids.add(pid);
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const wall = (performance.now() - start) / 1000;
  if (code !== 0) throw new Error(`cdk synth in ${cwd} failed (${code}):\n${stderr.slice(-2000)}`);
  rmSync(dir, { recursive: true, force: true });
  const sum = (pids: Iterable<number>) => [...pids].reduce((a, pid) => a + (cpu.get(pid) ?? 0), 0);
  return { wall, cpu: sum(cpu.keys()), esbuild: sum(esbuildPids) };
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const f = (x: number) => x.toFixed(2);

async function main(): Promise<void> {
  console.log(`bench/synth/ab: cold npx cdk synth, this tree vs ${args.against}, ${pairs} pairs; load average at start ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log('| pair | this tree wall | CPU | of it esbuild | other wall | CPU | of it esbuild | ratio wall | ratio CPU | load |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const results: { self: Run; other: Run }[] = [];
  for (let i = 0; i < pairs; i++) {
    const order = i % 2 === 0 ? (['self', 'other'] as const) : (['other', 'self'] as const);
    const pair: Partial<Record<'self' | 'other', Run>> = {};
    for (const which of order) pair[which] = await coldSynth(which === 'self' ? root : other);
    const { self, other: them } = pair as { self: Run; other: Run };
    results.push({ self, other: them });
    console.log(
      `| ${i + 1} | ${f(self.wall)} s | ${f(self.cpu)} s | ${f(self.esbuild)} s | ${f(them.wall)} s | ${f(them.cpu)} s | ${f(them.esbuild)} s | ${f(self.wall / them.wall)} | ${f(self.cpu / them.cpu)} | ${loadavg()[0]!.toFixed(1)} |`,
    );
  }
  const m = (pick: (r: { self: Run; other: Run }) => number) => f(median(results.map(pick)));
  console.log(
    `\nmedians: this tree ${m((r) => r.self.wall)} s wall, ${m((r) => r.self.cpu)} s CPU (esbuild ${m((r) => r.self.esbuild)} s); ${args.against} ${m((r) => r.other.wall)} s, ${m((r) => r.other.cpu)} s CPU (esbuild ${m((r) => r.other.esbuild)} s); paired ratios wall ${m((r) => r.self.wall / r.other.wall)}, CPU ${m((r) => r.self.cpu / r.other.cpu)}`,
  );
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
