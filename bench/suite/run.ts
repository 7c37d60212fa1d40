/**
 * bench/suite: the whole vitest run as `npm test` runs it (the projects `stacks`, `in-process` and
 * `platform`), timed from outside: wall time, the CPU seconds of vitest and every process under it
 * (which a busy machine inflates less than wall time), vitest's own import/transform/tests figures,
 * the test time of each project, the load average before and after, the slowest files, and what the
 * run left in the temporary directory (nothing, when vitest.config.ts's run directory works).
 *
 * The issue 14 target is a wall time of 120 s or less on a quiet 2-core machine. A full run is
 * minutes of load on the machine: run it on a quiet one, not beside other work.
 *
 *   npx tsx bench/suite/run.ts [--top 15] [-- <extra vitest arguments, e.g. a project or files>]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dash = process.argv.indexOf('--');
const own = dash < 0 ? process.argv.slice(2) : process.argv.slice(2, dash);
const extra = dash < 0 ? [] : process.argv.slice(dash + 1);
const topArg = own.indexOf('--top');
const top = topArg >= 0 ? Number(own[topArg + 1]) : 15;

/** CPU seconds of this process's waited-for children (and theirs), from /proc (Linux); undefined elsewhere. */
function childrenCpuSeconds(): number | undefined {
  try {
    // Fields after the command's closing parenthesis; cutime and cstime are the 14th and 15th.
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

interface JsonReport {
  testResults: { name: string; startTime: number; endTime: number; status: string; assertionResults: { status: string }[] }[];
  numTotalTests: number;
  numFailedTests: number;
}

const dir = mkdtempSync(join(tmpdir(), 'mlops-suite-bench-'));
const jsonFile = join(dir, 'report.json');
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
/** The temporary directory's entries: what the run leaves there is what it adds (on a machine running nothing else). */
const tmpEntries = () => new Set(readdirSync(tmpdir()));
const tmpBefore = tmpEntries();
const loadBefore = load();
const cpuBefore = childrenCpuSeconds();
const t0 = performance.now();
let output = '';
const code = await new Promise<number | null>((resolve) => {
  const child = spawn(
    join(root, 'node_modules/.bin/vitest'),
    ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${jsonFile}`, ...extra],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NO_COLOR: '1' } },
  );
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
    process.stdout.write(d);
  });
  child.once('close', resolve);
});
const wall = (performance.now() - t0) / 1000;
// eslint-disable-next-line no-control-regex -- the reporter's colours, whatever NO_COLOR says
output = output.replace(/\x1b\[[0-9;]*m/g, '');
const cpuAfter = childrenCpuSeconds();
const leftInTmp = [...tmpEntries()].filter((e) => !tmpBefore.has(e));
const loadAfter = load();

// What vitest sums over its workers: "Duration 120.1s (transform 3s, setup 1s, import 40s, tests 200s, …)".
const summary = /Duration\s+([\d.]+)s \(([^)]*)\)/.exec(output);
const phases = Object.fromEntries(
  [...(summary?.[2] ?? '').matchAll(/(\w+) ([\d.]+)(m?s)/g)].map((m) => [m[1], Number(m[2]) / (m[3] === 'ms' ? 1000 : 1)]),
);

let report: JsonReport | undefined;
try {
  report = JSON.parse(readFileSync(jsonFile, 'utf8')) as JsonReport;
} catch {
  // vitest ended before writing its report; the wall time still stands.
}
rmSync(dir, { recursive: true, force: true });

// The project of each file, from the default reporter's lines ("✓ |stacks| test/…  (n tests) 1234ms").
const projectOf = new Map<string, string>();
for (const m of output.matchAll(/^ [✓×❯↓] +\|?([\w-]+)\|? +(test\/\S+\.test\.ts)/gm)) projectOf.set(m[2]!, m[1]!);

const files = (report?.testResults ?? []).map((r) => {
  const file = r.name.slice(root.length);
  return { file, project: projectOf.get(file) ?? '?', seconds: (r.endTime - r.startTime) / 1000, status: r.status };
});
const byProject = new Map<string, { files: number; seconds: number }>();
for (const f of files) {
  const p = byProject.get(f.project) ?? { files: 0, seconds: 0 };
  byProject.set(f.project, { files: p.files + 1, seconds: p.seconds + f.seconds });
}

const s = (n: number | undefined) => (n === undefined ? 'n/a' : `${n.toFixed(1)} s`);
console.log('\nbench/suite: the whole vitest run');
console.log(`  exit code                 ${code}`);
console.log(`  wall                      ${s(wall)}`);
console.log(`  CPU (user + system)       ${s(cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore)}`);
console.log(`  load average before/after ${loadBefore} / ${loadAfter}`);
console.log(`  vitest duration           ${s(summary ? Number(summary[1]) : undefined)}`);
for (const [k, v] of Object.entries(phases)) console.log(`  vitest ${k.padEnd(18)} ${s(v)} (summed over workers)`);
for (const [p, v] of byProject) console.log(`  project ${p.padEnd(17)} ${s(v.seconds)} over ${v.files} files`);
if (report) console.log(`  tests                     ${report.numTotalTests} (${report.numFailedTests} failed)`);
console.log(`  left in ${tmpdir()}`.padEnd(28) + `${leftInTmp.length} entries${leftInTmp.length ? ` (${leftInTmp.slice(0, 5).join(', ')}${leftInTmp.length > 5 ? ', …' : ''})` : ''}`);
console.log(`\n  slowest ${top} files:`);
for (const f of files.sort((a, b) => b.seconds - a.seconds).slice(0, top)) {
  console.log(`  ${f.seconds.toFixed(1).padStart(7)} s  ${f.project.padEnd(8)} ${f.file}${f.status === 'passed' ? '' : ` (${f.status})`}`);
}
process.exitCode = code ?? 1;
