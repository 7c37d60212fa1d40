/**
 * CDK's CloudFormation validator over the templates of a synthesized outdir, on V8's default tiers
 * and on Liftoff only (what the validation worker runs, lib/constructs/validation-worker.ts), each in
 * a fresh process, alternating: the CPU time of starting the engine and of validating every template
 * (one per call, as the validation cache asks; its engine serves every resource type, as the worker's
 * does), and whether both found the same.
 *
 *   npx cdk synth --output /tmp/out && npx tsx bench/synth/validator.ts --outdir /tmp/out [--runs 3]
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { outdir: { type: 'string' }, runs: { type: 'string', default: '3' } } });
if (!args.outdir) throw new Error('--outdir <a synthesized cdk.out> is required');
const templates = readdirSync(args.outdir)
  .filter((d) => d.startsWith('assembly-'))
  .flatMap((d) => readdirSync(join(args.outdir!, d)).filter((f) => f.endsWith('.template.json')).map((f) => join(args.outdir!, d, f)));

const SCRIPT = `const { readFileSync } = require('node:fs');
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1e6; };
const c0 = cpu();
const { CloudFormationValidatePlugin } = require(${JSON.stringify(createRequire(import.meta.url).resolve('aws-cdk-lib'))});
const plugin = new CloudFormationValidatePlugin();
plugin.initializeEngine(new Set());
const c1 = cpu();
const paths = ${JSON.stringify(templates)};
const types = new Set(paths.flatMap((p) => Object.values(JSON.parse(readFileSync(p, 'utf8')).Resources ?? {}).map((r) => r.Type)));
plugin.engineResourceTypes = types; // the rules the types select are the empty set's (see validation-worker.ts)
const reports = paths.map((p) => plugin.validate({ stackTemplates: [{ templatePath: p, stackConstructPath: p }] }).violations);
process.stdout.write(JSON.stringify({ start: c1 - c0, validate: cpu() - c1, reports }));`;

const runs = Number(args.runs);
const rows: Record<string, { start: number; validate: number }[]> = { default: [], 'liftoff-only': [] };
let findings: Record<string, string> = {};
console.log(`bench/synth/validator: ${templates.length} templates, ${runs} runs each, CPU s of the process (all its threads)\n`);
console.log('| run | tiers | engine start | validate all | findings |');
console.log('|---:|---|---:|---:|---:|');
for (let i = 0; i < runs; i++) {
  for (const tiers of i % 2 === 0 ? ['default', 'liftoff-only'] : ['liftoff-only', 'default']) {
    const out = JSON.parse(
      execFileSync(process.execPath, [...(tiers === 'default' ? [] : ['--liftoff-only']), '-e', SCRIPT], { encoding: 'utf8', maxBuffer: 1 << 28 }),
    ) as { start: number; validate: number; reports: unknown[] };
    rows[tiers]!.push(out);
    findings = { ...findings, [tiers]: JSON.stringify(out.reports) };
    console.log(`| ${i + 1} | ${tiers} | ${out.start.toFixed(2)} | ${out.validate.toFixed(2)} | ${out.reports.flat().length} |`);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(2);
for (const [tiers, r] of Object.entries(rows)) console.log(`\n${tiers}: median engine start ${med(r.map((x) => x.start))} s, validate ${med(r.map((x) => x.validate))} s CPU`);
console.log(`same findings on both: ${findings['default'] === findings['liftoff-only']}`);
