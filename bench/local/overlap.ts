/**
 * bench/local overlap: what starting the engines while the local stage is synthesized saves, apart
 * from how long synthesis itself takes. A child process burning one core for `--synth-ms` stands in
 * for synthesis (real synthesis is a child process too); the platform is started on a stage
 * synthesized once up front, either after the child ends (sequential, as before) or given the
 * child's end as its assembly (overlapped, as `mlops up` does now). Runs alternate, so both see the
 * same machine.
 *
 *   npx tsx bench/local/overlap.ts [--runs 3] [--synth-ms 5000]
 */
import '../../lib/polyfills';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform } from '../../lib/local/platform';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const runs = arg('--runs', 3);
const synthMs = arg('--synth-ms', 5000);

/** A child process that keeps one core busy for `ms`, resolving when it exits. */
function busyChild(ms: number): Promise<void> {
  const child = spawn(process.execPath, ['-e', `const end = Date.now() + ${ms}; while (Date.now() < end);`], {
    stdio: 'ignore',
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
}

const synthesized = mkdtempSync(join(tmpdir(), 'mlops-bench-overlap-'));
synthLocalStage(synthesized);
const assemblyDir = assemblyDirOf(synthesized);

async function once(mode: 'sequential' | 'overlapped'): Promise<{ total: number; after: number }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'mlops-bench-overlap-state-'));
  try {
    const t0 = performance.now();
    let ended = t0;
    const synthesis = busyChild(synthMs).then(() => {
      ended = performance.now();
      return assemblyDir;
    });
    if (mode === 'sequential') await synthesis;
    const platform = await startPlatform({ stateDir, assemblyDir: mode === 'sequential' ? assemblyDir : synthesis });
    const ready = performance.now();
    await platform.close();
    return { total: ready - t0, after: ready - ended };
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const results: Record<'sequential' | 'overlapped', { total: number; after: number }[]> = { sequential: [], overlapped: [] };
await once('overlapped'); // warm the module and file caches for both
for (let i = 0; i < runs; i++) {
  for (const mode of ['sequential', 'overlapped'] as const) results[mode].push(await once(mode));
}
rmSync(synthesized, { recursive: true, force: true });

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`bench/local overlap: ${runs} runs each, synthesis stand-in ${s(synthMs)}, node ${process.version}, median (min-max)\n`);
console.log('| engines start | synthesis start → engines ready | synthesis end → engines ready |');
console.log('|---|---:|---:|');
for (const mode of ['sequential', 'overlapped'] as const) {
  const col = (k: 'total' | 'after') => {
    const xs = results[mode].map((r) => r[k]);
    return `${s(median(xs))} (${s(Math.min(...xs))}-${s(Math.max(...xs))})`;
  };
  console.log(`| ${mode === 'sequential' ? 'after synthesis (before)' : 'during synthesis (now)'} | ${col('total')} | ${col('after')} |`);
}
