/**
 * bench/cli: what one `mlops` process costs to start, per command, as the suite and a user start it
 * (`node bin/mlops.mjs <command>`, the cached CLI bundle, built before the first timed run): CPU
 * seconds (user + system, the figure load distorts least), wall time and peak RSS, medians of
 * `--runs`. `mlops up` is timed to its ready banner on a restart of a state dir the bench brings up
 * once first (a first start seeds and trains: tens of seconds).
 *
 * `--against <dir>` times another checkout's launcher too (a copy of an older `bin/` beside the
 * same lib/ and node_modules, for instance), alternating the two run by run so load falls on both
 * alike, and prints the paired CPU ratio. Each launcher gets a kit cache and a state dir of its own:
 * the local assembly's key covers bin/, so one state dir would have each launcher copy its assembly
 * back in after the other's run.
 *
 *   npx tsx bench/cli/start.ts [--runs 5] [--against <dir>] [--no-up]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, against: { type: 'string' }, 'no-up': { type: 'boolean', default: false } },
});
const runs = Number(values.runs);
const scratch = mkdtempSync(join(tmpdir(), 'mlops-bench-cli-'));
const model = join(scratch, 'model');

interface Launcher {
  readonly name: string;
  readonly bin: string;
  readonly cache: string;
  readonly state: string;
}
const launcher = (name: string, root: string): Launcher => ({
  name,
  bin: join(root, 'bin', 'mlops.mjs'),
  cache: join(scratch, `cache-${name}`),
  state: join(scratch, `state-${name}`),
});
const launchers: Launcher[] = [launcher('this', ROOT)];
if (values.against) launchers.push(launcher('against', values.against));

interface Sample {
  readonly cpu: number;
  readonly wall: number;
  readonly rssMiB: number;
}

/** CPU seconds and peak RSS of a process that is still running, from /proc (Linux). */
function liveUsage(pid: number): { cpu: number; rssMiB: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpu: (Number(fields[11]) + Number(fields[12])) / 100, rssMiB: Number(hwm?.[1] ?? 0) / 1024 };
}

/**
 * `node <bin> <args>` under /usr/bin/time (CPU and peak RSS of the process and what it waited for);
 * with `until`, stopped with SIGINT once its stdout matches and measured from /proc at that moment.
 */
function run(launcher: Launcher, command: readonly string[], until?: RegExp): Promise<Sample> {
  const args = command.map((a) => (a === STATE ? launcher.state : a));
  const env = { ...process.env, MLOPS_CACHE_DIR: launcher.cache, NODE_NO_WARNINGS: '1' };
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    if (until) {
      const child = spawn(process.execPath, [launcher.bin, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let sample: Sample | undefined;
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (!sample && until.test(out)) {
          const { cpu, rssMiB } = liveUsage(child.pid!);
          sample = { cpu, rssMiB, wall: (performance.now() - t0) / 1000 };
          child.kill('SIGINT');
        }
      });
      child.once('close', (code) => (sample ? resolve(sample) : reject(new Error(`${args.join(' ')} exited ${code}:\n${out}`))));
      return;
    }
    const child = spawn('/usr/bin/time', ['-f', '@@ %U %S %M', process.execPath, launcher.bin, ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('close', (code) => {
      const m = /@@ ([\d.]+) ([\d.]+) (\d+)/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`${args.join(' ')} exited ${code}:\n${err}`));
      resolve({ cpu: Number(m[1]) + Number(m[2]), rssMiB: Number(m[3]) / 1024, wall: (performance.now() - t0) / 1000 });
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const READY = /local platform ready[\s\S]*Ctrl-C/;
/** Stands for the launcher's own state dir in a command's arguments. */
const STATE = '<state>';
const commands: { label: string; args: readonly string[]; until?: RegExp }[] = [
  { label: '--help', args: ['--help'] },
  { label: 'render seldon', args: ['render', 'seldon', '--model', 'wine-quality', '--version', '2', '--env', 'production', '--canary-of', '1'] },
  { label: 'executions --json', args: ['executions', '--json', '--state-dir', STATE] },
  { label: 'jobs', args: ['jobs', '--state-dir', STATE] },
  { label: 'train (wine, 1,599 rows)', args: ['train', '--train', 'lib/datasets/winequality-red.csv', '--target', 'quality', '--model-dir', model] },
  ...(values['no-up'] ? [] : [{ label: 'up (restart, to ready)', args: ['up', '--port', '0', '--state-dir', STATE], until: READY }]),
];

try {
  const load0 = loadavg()[0]!;
  // Bundles built, and (unless --no-up) each state dir brought up once: the runs below are restarts.
  for (const l of launchers) {
    await run(l, ['--help']);
    if (!values['no-up']) await run(l, ['up', '--port', '0', '--state-dir', STATE], READY);
  }
  const samples = new Map<string, Sample[]>();
  for (let i = 0; i < runs; i++) {
    for (const c of commands) {
      for (const l of i % 2 ? [...launchers].reverse() : launchers) {
        const key = `${c.label}\t${l.name}`;
        samples.set(key, [...(samples.get(key) ?? []), await run(l, c.args, c.until)]);
      }
    }
  }
  console.log(`mlops process start, medians of ${runs} (load average ${load0.toFixed(1)} -> ${loadavg()[0]!.toFixed(1)})`);
  console.log(['command', 'launcher', 'CPU s', 'wall s', 'peak RSS MiB', ...(values.against ? ['CPU this/against (paired median)'] : [])].join('\t'));
  for (const c of commands) {
    for (const l of launchers) {
      const s = samples.get(`${c.label}\t${l.name}`)!;
      const row = [c.label, l.name, median(s.map((x) => x.cpu)).toFixed(2), median(s.map((x) => x.wall)).toFixed(2), median(s.map((x) => x.rssMiB)).toFixed(0)];
      if (values.against && l.name === 'this') {
        const other = samples.get(`${c.label}\tagainst`)!;
        row.push(median(s.map((x, i) => x.cpu / other[i]!.cpu)).toFixed(2));
      }
      console.log(row.join('\t'));
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
