/**
 * bench/synth: cold synthesis of the CDK app, as `cdk synth` runs it (a fresh Node process running
 * `bin/app.ts` through tsx, context in CDK_CONTEXT_JSON, output to a temp CDK_OUTDIR), for all three
 * environments and for each alone, with and without the cdk-nag packs. Prints the median wall time
 * of several runs and the resource count of every stack.
 *
 *   npx tsx bench/synth/run.ts [--runs 5]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;

function synthOnce(context: Record<string, unknown>): { ms: number; outdir: string } {
  const outdir = mkdtempSync(join(tmpdir(), 'mlops-synth-bench-'));
  const start = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
    cwd: root,
    env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outdir },
    encoding: 'utf8',
  });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`synthesis failed (${JSON.stringify(context)}):\n${r.stderr}`);
  return { ms, outdir };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function resourceCounts(outdir: string): { stack: string; resources: number }[] {
  const rows: { stack: string; resources: number }[] = [];
  for (const entry of readdirSync(outdir).filter((d) => d.startsWith('assembly-')).sort()) {
    for (const file of readdirSync(join(outdir, entry)).filter((f) => f.endsWith('.template.json')).sort()) {
      const template = JSON.parse(readFileSync(join(outdir, entry, file), 'utf8'));
      rows.push({ stack: file.replace('.template.json', ''), resources: Object.keys(template.Resources ?? {}).length });
    }
  }
  return rows;
}

const cases: { label: string; context: Record<string, unknown> }[] = [
  { label: 'all three environments, cdk-nag on', context: {} },
  { label: 'all three environments, cdk-nag off', context: { nag: 'false' } },
  { label: 'local only, cdk-nag off (what `mlops up` synthesizes)', context: { env: 'local', nag: 'false' } },
  { label: 'staging only, cdk-nag on', context: { env: 'staging' } },
  { label: 'production only, cdk-nag on', context: { env: 'production' } },
];

console.log(`bench/synth: ${runs} cold runs per case, node ${process.version}, median wall time\n`);
console.log('| case | median | min | max |');
console.log('|---|---:|---:|---:|');
let lastOutdir = '';
for (const c of cases) {
  synthOnce(c.context); // warm the OS file cache and the esbuild bundle cache in cdk.out-like dirs
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { ms, outdir } = synthOnce(c.context);
    times.push(ms);
    if (c.context['env'] === undefined && c.context['nag'] === undefined && i === runs - 1) lastOutdir = outdir;
    else rmSync(outdir, { recursive: true, force: true });
  }
  const f = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(`| ${c.label} | ${f(median(times))} | ${f(Math.min(...times))} | ${f(Math.max(...times))} |`);
}

console.log('\n| stack | resources |');
console.log('|---|---:|');
let total = 0;
for (const row of resourceCounts(lastOutdir)) {
  total += row.resources;
  console.log(`| ${row.stack} | ${row.resources} |`);
}
console.log(`| total | ${total} |`);
rmSync(lastOutdir, { recursive: true, force: true });
