/**
 * Decoding benchmark: the model server's single-pass decoders (lib/serving/fast-path.ts) against
 * `JSON.parse` + the full decoders, on the bodies bench/serve/run.ts posts (one wine row), in one
 * process, without HTTP. CPU time per decode, median of the runs.
 *
 * usage: npx tsx bench/serve/decode.ts [--runs 5] [--iterations 500000]
 */
import { parseArgs } from 'node:util';
import { FastDecoder } from '../../lib/serving/fast-path';
import { compileModel } from '../../lib/serving/model';
import { decodeOipRequest } from '../../lib/serving/oip';
import { Float64Scratch } from '../../lib/serving/scratch';
import { decodeSeldonRequest } from '../../lib/serving/seldon';
import { WINE } from '../../test/serving/helpers';

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, iterations: { type: 'string', default: '500000' } },
});
const model = compileModel(WINE, { name: 'wine-quality' });
const ROW = [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4];
const seldon = Buffer.from(JSON.stringify({ data: { ndarray: [ROW] } }));
const oip = Buffer.from(
  JSON.stringify({ inputs: [{ name: 'input-0', shape: [1, 11], datatype: 'FP64', data: ROW }] }),
);
const scratch = new Float64Scratch();
const fast = new FastDecoder(model, undefined, scratch);

let sink: unknown;
function nsPer(fn: () => unknown): number {
  const n = Number(args.iterations);
  for (let i = 0; i < n / 5; i++) sink = fn();
  const runs: number[] = [];
  for (let r = 0; r < Number(args.runs); r++) {
    const t = process.cpuUsage();
    for (let i = 0; i < n; i++) sink = fn();
    const u = process.cpuUsage(t);
    runs.push(((u.user + u.system) * 1000) / n);
  }
  return runs.sort((a, b) => a - b)[runs.length >> 1]!;
}

const rows = [
  ['Seldon ndarray, full', nsPer(() => decodeSeldonRequest(JSON.parse(seldon.toString('utf8')), model, undefined, scratch))],
  ['Seldon ndarray, fast', nsPer(() => fast.seldon(seldon))],
  ['OIP one tensor, full', nsPer(() => decodeOipRequest(JSON.parse(oip.toString('utf8')), model, scratch))],
  ['OIP one tensor, fast', nsPer(() => fast.oip(oip))],
] as const;
for (const [name, ns] of rows) process.stdout.write(`${name.padEnd(22)} ${ns.toFixed(0).padStart(6)} ns CPU per decode\n`);
if (sink === undefined) process.exitCode = 1;
