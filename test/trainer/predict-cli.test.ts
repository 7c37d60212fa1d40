/**
 * `mlops predict` through the real binary (`node bin/mlops.mjs predict ...`): CSV and Parquet inputs,
 * several at once, streamed to stdout or --output, and every kind of bad input answered with its
 * reason, exit code 2 and nothing written.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../lib/cli/program';
import { runCli } from '../local/mlops-process';
import { HAND_MODEL_DOC, writeParquet } from './helpers';

let dir: string;
const at = (name: string) => join(dir, name);
const predict = (...args: string[]) => runCli(['predict', '--model-dir', at('model'), ...args]);

beforeAll(async () => {
  // prepare: a hand-made model, y = 1 + 2·a − 3·b, and inputs of every kind
  dir = await mkdtemp(join(tmpdir(), 'mlops-predict-cli-'));
  await mkdir(at('model'));
  await writeFile(at('model/model.json'), JSON.stringify(HAND_MODEL_DOC));
  await writeFile(at('in.csv'), 'id,a,b\n"x, 1",1,1\nx2,0.5,2\n');
  // Typed columns in another order, an integer column and a text id that needs quoting in CSV.
  await writeParquet(at('typed.parquet'), "SELECT * FROM (VALUES (2.0, 3::BIGINT, 'p\"1')) t(b, a, id)");
  await writeParquet(at('text.parquet'), "SELECT * FROM (VALUES ('q1', '1.5', '0')) t(id, a, b)");
  await writeFile(at('empty.csv'), '');
  await writeFile(at('header-only.csv'), 'id,a,b\n');
  await writeFile(at('late-bad.csv'), `id,a,b\n${'r,1,1\n'.repeat(10_000)}r,1,two\n`);
  await writeFile(at('unterminated.csv'), 'id,a,b\n"x,1,1\n');
  await writeParquet(at('null.parquet'), "SELECT * FROM (VALUES ('n1', 1.0, 2.0), ('n2', NULL, 1.0)) t(id, a, b)");
  await writeParquet(at('abc.parquet'), "SELECT * FROM (VALUES ('n1', 'abc', '1')) t(id, a, b)");
  await writeParquet(at('no-rows.parquet'), 'SELECT 1.0 AS a, 2.0 AS b WHERE false');
  await writeParquet(at('missing.parquet'), 'SELECT 1.0 AS a');
  await writeFile(at('fake.parquet'), 'PAR1 not really parquet');
}, 60_000);

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('mlops predict (the real binary)', () => {
  it('predicts CSV and Parquet inputs into one CSV, on stdout and into --output', async () => {
    // act
    const [out, file] = await Promise.all([
      predict('--input', at('in.csv'), at('typed.parquet'), at('text.parquet')),
      predict('--input', at('in.csv'), at('typed.parquet'), at('text.parquet'), '--output', at('out.csv')),
    ]);
    // assess: the first input fixes the header; Parquet rows are reordered into it and quoted
    expect(out.stderr).toBe('');
    expect(out.code).toBe(EXIT.ok);
    expect(out.stdout).toBe('id,a,b,prediction\n"x, 1",1,1,0\nx2,0.5,2,-4\n"p""1",3,2,1\nq1,1.5,0,4\n');
    expect(file.code).toBe(EXIT.ok);
    expect(file.stderr).toBe(`4 predictions written to ${at('out.csv')}\n`);
    expect(await readFile(at('out.csv'), 'utf8')).toBe(out.stdout);
  });

  it('fails with exit 2 and the reason for malformed, empty, wrong-typed and broken Parquet inputs, writing nothing', async () => {
    const cases: [string[], string][] = [
      [[at('empty.csv')], `${at('empty.csv')}: the file is empty (no header, no data)`],
      [[at('header-only.csv')], `${at('header-only.csv')}: the file has a header but no data rows`],
      [[at('unterminated.csv')], `${at('unterminated.csv')}: line 2: unterminated quoted field (a quoted field cannot span lines)`],
      [[at('late-bad.csv')], `${at('late-bad.csv')}: line 10002, column "b": "two" is not a number`],
      [[at('null.parquet')], `${at('null.parquet')}: row 2, column "a": empty value (missing values are not supported)`],
      [[at('abc.parquet')], `${at('abc.parquet')}: row 1, column "a": "abc" is not a number`],
      [[at('no-rows.parquet')], `${at('no-rows.parquet')}: the file has columns but no data rows`],
      [[at('missing.parquet')], `${at('missing.parquet')}: the model needs feature "b", which is missing; columns are: "a"`],
      [[at('in.csv'), at('typed.parquet'), at('fake.parquet')], `${at('fake.parquet')}: cannot be read as Parquet: `],
      [[at('nope.csv')], `cannot read ${at('nope.csv')}: ENOENT`],
    ];
    // Also to --output for a bad row late in a CSV and a bad file after good ones: no file appears.
    const toFile = new Set([3, 8]);
    // act: each to stdout, where a late bad row must leave stdout empty
    const runs = await Promise.all(cases.map(([inputs]) => predict('--input', ...inputs)));
    const fileRuns = await Promise.all(
      [...toFile].map((k) => predict('--input', ...cases[k]![0], '--output', at(`bad-${k}.csv`))),
    );
    // assess
    for (const [k, [, message]] of cases.entries()) {
      const both = toFile.has(k) ? [runs[k]!, fileRuns[[...toFile].indexOf(k)]!] : [runs[k]!];
      for (const run of both) {
        expect(run.stderr).toContain(`mlops: ${message}`);
        expect(run.code).toBe(EXIT.usage);
        expect(run.stdout).toBe('');
      }
      if (toFile.has(k)) await expect(readFile(at(`bad-${k}.csv`))).rejects.toThrow(/ENOENT/);
    }
  });
});
