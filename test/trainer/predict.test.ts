import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type LinearModel, parseModel } from '../../lib/model/format';
import { CsvError } from '../../lib/trainer/csv';
import { PREDICTION_COLUMN, predictCsv, predictFiles } from '../../lib/trainer/predict';
import { HAND_MODEL_DOC, withTempDir } from './helpers';

/** A hand-made model: y = 1 + 2·a − 3·b. */
const model: LinearModel = parseModel(HAND_MODEL_DOC);

const predictions = (csv: string) =>
  csv
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((l) => Number(l.split(/[;,]/).pop()));

describe('predictCsv', () => {
  it('appends a prediction column and keeps the input lines as they were', async () => {
    const out = await predictCsv(model, 'a,b\n1,1\n0.5,2\n', 'in.csv');
    expect(out).toBe(`a,b,${PREDICTION_COLUMN}\n1,1,0\n0.5,2,-4\n`);
  });

  it('matches columns by name: reordered, extra (even non-numeric) columns and the target are fine', async () => {
    const out = await predictCsv(model, '"id";"y";"b";"a"\n"x-1";9;1;1\n"x-2";9;2;0.5\n', 'in.csv');
    expect(out.split('\n')[0]).toBe('"id";"y";"b";"a";prediction');
    expect(out.split('\n')[1]).toBe('"x-1";9;1;1;0');
    expect(predictions(out)).toEqual([0, -4]);
  });

  it('fails if a feature is missing, naming it and listing the columns', async () => {
    await expect(predictCsv(model, 'a,c\n1,2\n', 'in.csv')).rejects.toThrow(CsvError);
    await expect(predictCsv(model, 'a,c\n1,2\n', 'in.csv')).rejects.toThrow(
      'in.csv: the model needs feature "b", which is missing; columns are: "a", "c"',
    );
    await expect(predictCsv(model, 'c\n1\n', 'in.csv')).rejects.toThrow('needs features "a", "b", which are missing');
  });

  it('fails if a feature cell is not numeric, or the input already has a prediction column', async () => {
    await expect(predictCsv(model, 'a,b\n1,two\n', 'in.csv')).rejects.toThrow(
      'in.csv: line 2, column "b": "two" is not a number',
    );
    await expect(predictCsv(model, 'a,b,prediction\n1,2,3\n', 'in.csv')).rejects.toThrow(
      /already has a "prediction" column/,
    );
    await expect(predictCsv(model, 'a,b\n', 'in.csv')).rejects.toThrow(
      'in.csv: the file has a header but no data rows',
    );
  });

  it('keeps csv.ts line numbers past blank lines, a BOM and CRLF line ends, and its header checks', async () => {
    const out = await predictCsv(model, '\uFEFF\r\na,b\r\n\r\n1,1\r\n2,x\r\n', 'in.csv').catch((e: Error) => e.message);
    expect(out).toBe('in.csv: line 5, column "b": "x" is not a number');
    expect(await predictCsv(model, '\n\na;b\n1;1', 'in.csv')).toBe('a;b;prediction\n1;1;0\n');
    await expect(predictCsv(model, 'a,a\n1,2\n', 'in.csv')).rejects.toThrow('in.csv: line 1: column name "a" appears twice');
    await expect(predictCsv(model, '\n \n', 'in.csv')).rejects.toThrow('in.csv: the file is empty (no header, no data)');
    await expect(predictCsv(model, 'a,b\n1,2,3\n', 'in.csv')).rejects.toThrow('in.csv: line 2: has 3 fields but the header has 2');
  });
});

describe('predictFiles', () => {
  const collect = async (paths: string[]) => {
    let text = '';
    const run = predictFiles(model, paths);
    for await (const piece of run.chunks) text += piece;
    return { text, rows: run.rows() };
  };

  it('predicts several files and directories as one output with the first header', async () => {
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'parts'));
      await writeFile(join(dir, 'parts', 'p1.csv'), 'b,a\n0,0\n');
      await writeFile(join(dir, 'parts', 'p2.csv'), 'b,a\n1,3\n');
      await writeFile(join(dir, 'one.csv'), 'b,a\n2,2\n');
      const { text, rows } = await collect([join(dir, 'one.csv'), join(dir, 'parts')]);
      expect(text).toBe('b,a,prediction\n2,2,-1\n0,0,1\n1,3,4\n');
      expect(rows).toBe(3);
    });
  });

  it('fails if a later input has other columns, another order or another separator', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, '1.csv'), 'a,b\n0,0\n');
      await writeFile(join(dir, '2.csv'), 'b,a\n0,0\n');
      await writeFile(join(dir, '3.csv'), 'a;b\n0;0\n');
      await expect(collect([join(dir, '1.csv'), join(dir, '2.csv')])).rejects.toThrow(
        /2\.csv: every input must have the columns of the first one, in the same order .*"a", "b"\), but it has "b", "a"/,
      );
      await expect(collect([join(dir, '1.csv'), join(dir, '3.csv')])).rejects.toThrow(
        /3\.csv: every input must use the separator of the first one \(","\), but it uses ";"/,
      );
      await expect(collect([join(dir, 'nope.csv')])).rejects.toThrow(/cannot read .*nope\.csv/);
    });
  });
});
