/**
 * bench/local: `npm start` (`mlops up`) time to ready, as a user meets it — a fresh process,
 * until the platform prints "ready" — split into synthesis, engine start and start-up pipelines,
 * for a first start on an empty state dir (seed, train, register, promote, serve) and a second
 * start that reuses it. Reads the phase timings `mlops up` writes to `startup-timings.json`.
 *
 *   npx tsx bench/local/run.ts [--runs 3]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;

interface Timings {
  synthMs: number;
  enginesMs: number;
  startupMs: number;
  readyMs: number;
}

/** Starts `mlops up`, waits for its ready banner, stops it; returns wall time and phases. */
function up(stateDir: string): Promise<Timings & { wallMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['bin/mlops.mjs', 'up', '--port', '0', '--state-dir', stateDir], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('local platform ready')) {
        const wallMs = performance.now() - started;
        const t = JSON.parse(readFileSync(join(stateDir, 'startup-timings.json'), 'utf8')) as Timings;
        child.once('exit', () => resolve({ ...t, wallMs }));
        child.kill('SIGINT');
      }
    });
    child.once('exit', (code) => {
      if (!out.includes('local platform ready')) reject(new Error(`mlops up exited ${code} before ready:\n${err}`));
    });
  });
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`bench/local: mlops up to ready, ${runs} runs each, node ${process.version}, median (min-max)\n`);
console.log('| start | wall (process start → ready) | synthesis | engines | start-up pipelines |');
console.log('|---|---:|---:|---:|---:|');
const first: (Timings & { wallMs: number })[] = [];
const second: (Timings & { wallMs: number })[] = [];
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-bench-local-'));
  try {
    first.push(await up(dir));
    second.push(await up(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
for (const [label, rows] of [
  ['first (empty state: seed, materialize, train, register, promote, serve)', first],
  ['second (reuses the registered model)', second],
] as const) {
  const col = (k: keyof (typeof rows)[number]) =>
    `${s(median(rows.map((r) => r[k])))} (${s(Math.min(...rows.map((r) => r[k])))}-${s(Math.max(...rows.map((r) => r[k])))})`;
  console.log(`| ${label} | ${col('wallMs')} | ${col('synthMs')} | ${col('enginesMs')} | ${col('startupMs')} |`);
}
