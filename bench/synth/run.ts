/**
 * bench/synth: synthesis as users meet it.
 *
 * - `npx cdk synth` of all three environments (the real CLI, cdk-nag and CloudFormation validation
 *   on), cold (an empty kit cache: every handler bundled, the app compiled, every template validated
 *   and every stage nagged, into an empty outdir) and warm (the kit cache of an earlier synthesis of
 *   the same sources, into the outdir it wrote, as a second `npx cdk synth` into cdk.out);
 * - the local stage as `mlops up` synthesizes it (bin/synth-local.mjs: no nag, no validation), warm
 *   bundle cache, and the first start's assembly from the kit's assembly cache (a fresh state dir);
 * - with `--validation`, instead of the above: what CDK's CloudFormation validator costs when it runs
 *   (its findings cache emptied before each run), all three at once vs each stage alone
 *   (`CDK_VALIDATION=false` turns it off), to see whether validating once per template set pays.
 *
 * Each case runs in fresh processes with its own kit cache (MLOPS_CACHE_DIR), never the repo's.
 * Prints the median wall time of several runs, the load average (the machine is shared), what the
 * warm runs took from the kit cache, and the resource count of every stack.
 *
 *   npx tsx bench/synth/run.ts [--runs 3] [--validation]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
const withValidation = process.argv.includes('--validation');
const temps: string[] = [];
const temp = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `mlops-synth-bench-${name}-`));
  temps.push(dir);
  return dir;
};

/** CPU seconds (user + system) of each measured command and its children, which load on a shared machine inflates less than wall time. */
const cpu: number[] = [];

/**
 * Runs a command in the repo and returns its wall time; throws with its output when it fails. Its
 * CPU time (from GNU time, when installed) goes to {@link cpu}.
 */
function timed(command: string, args: string[], env: Record<string, string>): number {
  const usage = join(temp('time'), 'usage');
  const [cmd, argv] = existsSync('/usr/bin/time')
    ? ['/usr/bin/time', ['-f', '%U %S', '-o', usage, command, ...args]]
    : [command, args];
  const start = performance.now();
  const r = spawnSync(cmd, argv, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  cpu.push(existsSync(usage) ? readFileSync(usage, 'utf8').trim().split(/\s+/).slice(-2).map(Number).reduce((a, b) => a + b, 0) * 1000 : NaN);
  return ms;
}

/** `npx cdk synth` of the app, as a user types it; context through `-c`. */
const cdkSynth = (cacheDir: string, outdir: string, context: string[] = [], env: Record<string, string> = {}) =>
  timed('npx', ['cdk', 'synth', '--quiet', '--output', outdir, ...context.flatMap((c) => ['-c', c])], {
    MLOPS_CACHE_DIR: cacheDir,
    ...env,
  });

/** The app without the CLI (what `cdk synth` runs), context in CDK_CONTEXT_JSON. */
const appSynth = (cacheDir: string, context: Record<string, unknown>, env: Record<string, string> = {}) =>
  timed(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
    MLOPS_CACHE_DIR: cacheDir,
    CDK_OUTDIR: temp('out'),
    CDK_CONTEXT_JSON: JSON.stringify(context),
    ...env,
  });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
/** Prints the last `times.length` measurements: wall time, and the CPU time of the same runs. */
const row = (label: string, times: number[], target = '') => {
  const c = cpu.slice(-times.length);
  console.log(
    `| ${label} | ${s(median(times))} | ${s(Math.min(...times))} | ${s(Math.max(...times))} | ${Number.isNaN(c[0]) ? '–' : s(median(c))} | ${target} |`,
  );
};

const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');
console.log(`bench/synth: ${runs} runs per case, node ${process.version}, median wall time; load average at start ${load()}\n`);

// Warm: one cache and one outdir, filled by a first run that is not counted (also the cache of --validation).
const warmCache = temp('cache');
const warmOut = temp('out');
cdkSynth(warmCache, warmOut);
/** Entries of each kit cache: a warm run that adds none checked, validated and compiled nothing. */
const cacheEntries = () =>
  Object.fromEntries(['bundles', 'validation', 'nag', 'app'].map((d) => [d, existsSync(join(warmCache, d)) ? readdirSync(join(warmCache, d)).length : 0]));

/** The figures of issue 14: cold and warm `cdk synth`, the local stage as `mlops up` gets it. */
function synthesisCases(): void {
  console.log('| case | median | min | max | CPU (median) | target |');
  console.log('|---|---:|---:|---:|---:|---:|');
  // Cold: a new, empty kit cache for every run.
  const cold: number[] = [];
  for (let i = 0; i < runs; i++) cold.push(cdkSynth(temp('cache'), temp('out')));
  row('`npx cdk synth`, all three environments, empty kit cache', cold, '≤ 8 s');

  const warm: number[] = [];
  const before = JSON.stringify(cacheEntries());
  for (let i = 0; i < runs; i++) warm.push(cdkSynth(warmCache, warmOut));
  row('`npx cdk synth`, all three environments, warm kit cache', warm, '≤ 5 s');
  const after = JSON.stringify(cacheEntries());
  if (after !== before) console.log(`(the warm runs added cache entries: ${before} → ${after})`);

  // The local stage as `mlops up` synthesizes it, in its child (warm bundle cache)…
  // (bin/synth-local.mjs, as lib/local/synth.ts runs it: bin/synth-local.ts compiled once, by a first run not counted.)
  const localSynth = () => timed(process.execPath, ['--enable-source-maps', 'bin/synth-local.mjs', temp('asm')], { MLOPS_CACHE_DIR: warmCache });
  localSynth();
  cpu.pop();
  const local: number[] = [];
  for (let i = 0; i < runs; i++) local.push(localSynth());
  row('local stage as `mlops up` synthesizes it (bin/synth-local.mjs), warm bundle cache', local, '≤ 2 s');

  // …and what a fresh state dir pays when the kit's assembly cache already holds these sources.
  const provide = `import { synthLocalStage } from './lib/local/synth.ts';
const t = performance.now(); synthLocalStage(process.argv[1]); process.stdout.write(String(performance.now() - t));`;
  const provideOnce = () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', provide, temp('state')], {
      cwd: root,
      env: { ...process.env, MLOPS_CACHE_DIR: warmCache },
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`synthLocalStage failed:\n${r.stderr}`);
    cpu.push(NaN);
    return Number(r.stdout);
  };
  provideOnce(); // fills the assembly cache
  const cached: number[] = [];
  for (let i = 0; i < runs; i++) cached.push(provideOnce());
  row('local assembly into a fresh state dir from the kit assembly cache (in `mlops up`)', cached);
}

/** Validation alone: the same synthesis with and without CDK's CloudFormation validator, nag off. */
function validationCases(): void {
  console.log('\nCloudFormation validation (cdk-nag off, warm bundle cache): with − without\n');
  console.log('| stages in one app | with validation | without | validation costs | CPU with | CPU without | CPU cost |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  let separately = 0;
  let separatelyCpu = 0;
  for (const env of [undefined, 'local', 'staging', 'production']) {
    const context = { nag: 'false', ...(env ? { env } : {}) };
    const on: number[] = [];
    const off: number[] = [];
    const cpuOn: number[] = [];
    const cpuOff: number[] = [];
    for (let i = 0; i < runs; i++) {
      // What the validator costs when it runs: no findings from the kit's validation cache.
      rmSync(join(warmCache, 'validation'), { recursive: true, force: true });
      on.push(appSynth(warmCache, context));
      cpuOn.push(cpu.at(-1)!);
      off.push(appSynth(warmCache, context, { CDK_VALIDATION: 'false' }));
      cpuOff.push(cpu.at(-1)!);
    }
    const cost = median(on) - median(off);
    const cpuCost = median(cpuOn) - median(cpuOff);
    if (env) {
      separately += cost;
      separatelyCpu += cpuCost;
    }
    console.log(
      `| ${env ?? 'all three'} | ${s(median(on))} | ${s(median(off))} | ${s(cost)} | ${s(median(cpuOn))} | ${s(median(cpuOff))} | ${s(cpuCost)} |`,
    );
  }
  console.log(`| each stage alone, summed | | | ${s(separately)} | | | ${s(separatelyCpu)} |`);
}

if (withValidation) validationCases();
else synthesisCases();

console.log('\n| stack | resources |');
console.log('|---|---:|');
let total = 0;
for (const entry of readdirSync(warmOut).filter((d) => d.startsWith('assembly-')).sort()) {
  for (const file of readdirSync(join(warmOut, entry)).filter((f) => f.endsWith('.template.json')).sort()) {
    const template = JSON.parse(readFileSync(join(warmOut, entry, file), 'utf8'));
    const resources = Object.keys(template.Resources ?? {}).length;
    total += resources;
    console.log(`| ${file.replace('.template.json', '')} | ${resources} |`);
  }
}
console.log(`| total | ${total} |`);
console.log(`\nload average at the end ${load()}`);
for (const dir of temps) rmSync(dir, { recursive: true, force: true });
