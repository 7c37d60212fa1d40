/**
 * bench/local/fresh-clone: the README's two commands on a fresh clone of HEAD, as a new user meets
 * them: `npm ci` (which runs `mlops warm` as npm's prepare step) and then `npm start` on an empty
 * state dir, timed to the ready banner; and, for comparison, the same clone installed with
 * `npm ci --ignore-scripts`, whose first `npm start` builds everything itself (every kit cache
 * empty). Each clone has its own kit cache (node_modules/.cache/mlops-kit inside it). npm's package
 * cache is used offline when it holds the lockfile's packages, so the registry's speed stays out
 * of the figures as far as it can.
 *
 *   npx tsx bench/local/fresh-clone.ts [--runs 1]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({ options: { runs: { type: 'string', default: '1' } } });
const runs = Number(values.runs);

/** Runs a command to its end; resolves with its wall time and output, rejects on a non-zero exit. */
function run(cmd: string, args: string[], cwd: string): Promise<{ ms: number; out: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('close', (code) =>
      code === 0 ? resolve({ ms: performance.now() - started, out }) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`)),
    );
  });
}

/** `npm start` on a fresh state dir in `clone`, to the ready banner; then Ctrl-C. */
function firstStart(clone: string): Promise<{ ms: number; phases: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('npm', ['start', '--', '--port', '0', '--state-dir', join(clone, '.bench-state')], {
      cwd: clone,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    let done = false;
    child.stderr.on('data', (d) => (out += d));
    child.stdout.on('data', (d) => {
      out += d;
      const ready = /local platform ready in [^\n]*/.exec(out);
      if (ready && !done) {
        done = true;
        const ms = performance.now() - started;
        child.once('close', () => resolve({ ms, phases: ready[0] }));
        process.kill(-child.pid!, 'SIGINT');
      }
    });
    child.once('close', (code) => {
      if (!done) reject(new Error(`npm start exited ${code} before ready:\n${out}`));
    });
  });
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const head = (await run('git', ['rev-parse', '--short', 'HEAD'], ROOT)).out.trim();
console.log(`bench/local/fresh-clone: HEAD ${head}, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
console.log('| install | `npm ci` wall | of which `mlops warm` | first `npm start` to ready | its phases |');
console.log('|---|---:|---:|---:|---|');
for (let i = 0; i < runs; i++) {
  for (const [label, extra] of [
    ['npm ci (prepare: mlops warm)', []],
    ['npm ci --ignore-scripts (no warm)', ['--ignore-scripts']],
  ] as const) {
    const clone = mkdtempSync(join(tmpdir(), 'mlops-bench-clone-'));
    try {
      await run('git', ['clone', '-q', ROOT, clone], tmpdir());
      const install = await run('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline', ...extra], clone);
      const warm = /mlops warm: [^\n]*\((\d+\.\d) s\)/.exec(install.out);
      const start = await firstStart(clone);
      const warmCell = warm ? `${warm[1]} s` : extra.length ? '–' : 'not run';
      console.log(`| ${label} | ${s(install.ms)} | ${warmCell} | **${s(start.ms)}** | ${start.phases.replace('local platform ready in', 'ready in')} |`);
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  }
}
console.log(`\nload average after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
