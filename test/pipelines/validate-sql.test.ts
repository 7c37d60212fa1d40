/**
 * Validation as one Athena aggregate (issue 19): the query of lib/pipelines/validate-sql.ts run by
 * the local Athena engine (DuckDB) over the wine table's text twin, against the same bad data the
 * in-Lambda validation rejects, and the same profile on good data.
 */
import { readFileSync } from 'node:fs';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WINE_CSV_PATH, WINE_RAW_PREFIX } from '../../lib/datasets/wine';
import type { AthenaEngine } from '../../lib/local/athena';
import { DataValidationError } from '../../lib/pipelines/errors';
import { profileObjects } from '../../lib/pipelines/validate';
import {
  checkObjectHead,
  HEAD_BYTES,
  judgeValidation,
  readObjectHead,
  validationQuery,
  type ValidationRow,
} from '../../lib/pipelines/validate-sql';
import {
  BUCKETS,
  failure,
  type LocalS3,
  runQuery,
  startLocalS3,
  startTestAthena,
  textTwinGlueTable,
  WINE_TABLE,
} from './helpers';

const DATABASE = 'mlops_test';
const KEY = `${WINE_RAW_PREFIX}winequality-red.csv`;
const csv = readFileSync(WINE_CSV_PATH, 'utf8');
const header = csv.split('\n')[0]!;
const rows = csv.split('\n').slice(1, 200);
const options = { target: 'quality', minRows: 50, holdoutEvery: 5, ranges: {} };

let s3: LocalS3;
let athena: AthenaEngine;

beforeAll(async () => {
  s3 = await startLocalS3();
  athena = await startTestAthena(s3, DATABASE, [textTwinGlueTable(DATABASE, WINE_TABLE)]);
});
afterAll(async () => {
  athena.close();
  await s3.close();
});

async function putDataset(body: string): Promise<void> {
  for (const key of await s3.keys(BUCKETS.raw)) await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKETS.raw, Key: key }));
  await s3.objects.put(BUCKETS.raw, KEY, body, 'text/csv');
}

/** Runs the aggregate on the local engine; its one row by column name. */
async function aggregate(ranges: Record<string, { min?: number; max?: number }> = {}): Promise<ValidationRow> {
  const sql = validationQuery({ database: DATABASE, table: WINE_TABLE, ranges });
  const { QueryExecutionId } = await runQuery(athena, sql, DATABASE);
  const page = await athena.getQueryResults({ QueryExecutionId });
  const [names, values] = page.ResultSet.Rows.map((r) => r.Data.map((d) => d.VarCharValue ?? null));
  expect(page.ResultSet.Rows).toHaveLength(2);
  return Object.fromEntries(names!.map((n, i) => [n, values![i]]));
}

describe('Validation as an Athena aggregate', () => {
  beforeEach(() => putDataset(csv));

  it('profiles the wine table as the in-Lambda validation does, in one result row', async () => {
    // act
    const result = judgeValidation({ table: WINE_TABLE, database: DATABASE, ranges: {} }, await aggregate());
    // assess: the same rows and column statistics as reading the object whole
    const whole = profileObjects(WINE_TABLE, [{ key: KEY, text: csv }], options);
    expect(result.rows).toBe(whole.rows);
    expect(result.rows).toBe(1599);
    result.columns.forEach((column, c) => {
      const expected = whole.columns[c]!;
      expect(column.name).toBe(expected.name);
      expect(column.min).toBeCloseTo(expected.min, 9);
      expect(column.max).toBeCloseTo(expected.max, 9);
      expect(column.mean).toBeCloseTo(expected.mean, 9);
      expect(column.std).toBeCloseTo(expected.std, 6);
    });
  });

  const cases: [string, string, Record<string, { max?: number }>, RegExp][] = [
    [
      'a non-numeric value',
      [header, ...rows.slice(0, 5), rows[5]!.replace(/^[^;]*/, 'abc'), ...rows.slice(6)].join('\n'),
      {},
      /dataset winequality_red_raw: column "fixed_acidity": "abc" is not a number \(1 row not numbers\)/,
    ],
    [
      'a missing value',
      [header, rows[0]!.replace(/^[^;]*/, ''), ...rows.slice(1)].join('\n'),
      {},
      /column "fixed_acidity": empty value in 1 row$/,
    ],
    [
      'a fractional integer column',
      [header, ...rows.map((r) => r.replace(/;(\d+)$/, ';$1.5'))].join('\n'),
      {},
      /column "quality": \d\.5 is not a whole number \(the column is int; 199 rows\)/,
    ],
    ['a violated range', csv, { alcohol: { max: 14 } }, /column "alcohol": 14\.9 is outside the allowed range \[-∞, 14\] \(\d+ rows?\)/],
  ];
  it.each(cases)('fails on %s, naming the column and a value', async (_, body, ranges, message) => {
    // prepare
    await putDataset(body);
    // act
    const row = await aggregate(ranges);
    const err = await failure(Promise.resolve().then(() => judgeValidation({ table: WINE_TABLE, database: DATABASE, ranges }, row)));
    // assess
    expect(err).toBeInstanceOf(DataValidationError);
    expect(err.message).toMatch(message);
  });
});

describe("An object's head: the checks an aggregate cannot make", () => {
  const cases: [string, string, RegExp][] = [
    ['a missing column', [header.replace(';"quality"', ''), ...rows.map((r) => r.replace(/;\d+$/, ''))].join('\n'), /missing column "quality"/],
    ['an empty object', '', /the object is empty/],
    ['a header without rows', header, /header but no data rows/],
    ['another delimiter', csv.replaceAll(';', ','), /fields are separated by ","/],
  ];
  it.each(cases)('fails on %s', async (_, body, message) => {
    await putDataset(body);
    const head = await readObjectHead(s3.objects, BUCKETS.raw, KEY);
    const err = await failure(Promise.resolve().then(() => checkObjectHead(WINE_TABLE, KEY, head)));
    expect(err).toBeInstanceOf(DataValidationError);
    expect(err.message).toMatch(message);
  });

  it('passes the wine object, reading its first two lines and not the rest', async () => {
    // prepare: the wine rows repeated to ~5 MB
    await putDataset([header, ...Array.from({ length: 60 }, () => csv.split('\n').slice(1).join('\n'))].join('\n'));
    // act
    const head = await readObjectHead(s3.objects, BUCKETS.raw, KEY);
    // assess
    expect(head.ended).toBe(false);
    expect(head.text.length).toBeLessThanOrEqual(HEAD_BYTES);
    expect(() => checkObjectHead(WINE_TABLE, KEY, head)).not.toThrow();
  });

  it('names the version and ETag of the object it read, so a profile needs no HEAD per object', async () => {
    // prepare: two versions of the object, the second current
    await putDataset(csv);
    await putDataset(`${csv}\n`);
    // act
    const head = await readObjectHead(s3.objects, BUCKETS.raw, KEY);
    // assess: the current version's, as a HEAD names it
    const current = await s3.objects.head(BUCKETS.raw, KEY);
    expect(head.versionId).toBeDefined();
    expect({ versionId: head.versionId, etag: head.etag }).toEqual({ versionId: current.versionId, etag: current.etag });
  });
});
