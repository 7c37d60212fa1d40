/**
 * The train/holdout split by row hash (no global sort), run by the local Athena engine over 10,000
 * generated rows: stable across runs, every row in exactly one split, one in `holdout_every` held
 * out within sampling error, and each row's split the one MD5 gives it by definition, which is what
 * Athena computes for the same SQL (`to_hex(md5(to_utf8(…)))`, `from_base(…, 16)`).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AthenaEngine } from '../../lib/local/athena';
import type { LakeTable } from '../../lib/pipelines/catalog';
import { pointInTimeJoinSql } from '../../lib/features/retrieval';
import { wineRepo } from '../../lib/features/wine';
import { featureServiceQueries, trainingQueries } from '../../lib/pipelines/sql';
import { parseS3Uri } from '../../lib/pipelines/catalog';
import { BUCKETS, csvGlueTable, type LocalS3, runQuery, startLocalS3 } from './helpers';

const DATABASE = 'mlops_split';
const ROWS = 10_000;
const TABLE: LakeTable = {
  name: 'generated',
  location: `s3://${BUCKETS.raw}/generated/`,
  format: 'csv',
  delimiter: ',',
  skipHeader: 1,
  columns: [
    { name: 'a', type: 'int' },
    { name: 'b', type: 'double' },
    { name: 'y', type: 'double' },
  ],
};
// Distinct rows, negative and fractional values among them.
const rows = Array.from({ length: ROWS }, (_, i) => [i, ((i * 7919) % 1000) / 8 - 40, (i % 13) * 0.25]);

let s3: LocalS3;
let athena: AthenaEngine;

beforeAll(async () => {
  s3 = await startLocalS3();
  const csv = ['a,b,y', ...rows.map((r) => r.join(','))].join('\n') + '\n';
  await s3.objects.put(BUCKETS.raw, 'generated/rows.csv', Buffer.from(csv), 'text/csv');
  athena = await AthenaEngine.start({
    stateDir: s3.stateDir,
    catalog: {
      databases: [DATABASE],
      tables: [csvGlueTable(DATABASE, TABLE)],
      workGroups: [{ name: 'wg', outputLocation: `s3://${BUCKETS.results}/results/`, enforce: true }],
    },
  });
});
afterAll(async () => {
  athena.close();
  await s3.close();
});

const queries = (holdoutEvery: number) =>
  trainingQueries({
    database: DATABASE,
    table: TABLE,
    target: 'y',
    featuresLocation: `s3://${BUCKETS.curated}/features/generated/run/`,
    holdoutEvery,
  });

/** A SELECT's result rows as `a,b,y` keys (Athena's CSV: quoted values and a header). */
async function resultRows(sql: string): Promise<string[]> {
  const execution = await runQuery(athena, sql, DATABASE);
  const { bucket, key } = parseS3Uri(execution.ResultConfiguration.OutputLocation);
  const text = Buffer.from((await s3.objects.get(bucket, key)).body).toString('utf8');
  return text
    .trim()
    .split('\n')
    .slice(1)
    .map((line) =>
      line
        .split(',')
        .map((v) => Number(JSON.parse(v)))
        .join(','),
    );
}

const keyOf = (r: number[]) => r.map((v) => Number(v)).join(',');

/** The split by definition: the first 15 hex digits of the MD5 of the row's values as DECIMAL(38, 9) text. */
function expectedHoldout(r: number[], every: number): boolean {
  const canonical = r.map((v) => v.toFixed(9)).join('|');
  const hash = BigInt(`0x${createHash('md5').update(canonical, 'utf8').digest('hex').slice(0, 15)}`);
  return hash % BigInt(every) === 0n;
}

describe('the split by row hash', () => {
  it.each([5, 10])('holds out one in %i rows, disjoint, covering, stable and as MD5 defines it', async (every) => {
    // act: both splits, and the holdout again
    const q = queries(every);
    const train = await resultRows(q.train);
    const holdout = await resultRows(q.holdout);
    const again = await resultRows(q.holdout);
    // assess: every row in exactly one split
    expect(new Set([...train, ...holdout]).size).toBe(ROWS);
    expect(train.length + holdout.length).toBe(ROWS);
    // stable, in the same order
    expect(again).toEqual(holdout);
    // the configured fraction within four standard deviations of a binomial
    const p = 1 / every;
    const sd = Math.sqrt(ROWS * p * (1 - p));
    expect(Math.abs(holdout.length - ROWS * p)).toBeLessThan(4 * sd);
    // each row where the hash's definition puts it
    const expected = new Set(rows.filter((r) => expectedHoldout(r, every)).map(keyOf));
    expect(new Set(holdout)).toEqual(expected);
  });
});

/** A window over a whole table: Athena computes it on one worker (issue 19). */
const GLOBAL_ROW_NUMBER = /row_number\s*\(\s*\)\s*over\s*\(\s*order\s+by/i;

describe('the SQL builders', () => {
  it('number no rows over a whole table', () => {
    expect('ROW_NUMBER() OVER (ORDER BY "a", "b")').toMatch(GLOBAL_ROW_NUMBER);
    const joinSql = pointInTimeJoinSql({
      repo: wineRepo,
      events: { relation: '"features"."wine_labels"', timestampColumn: 'event_timestamp', columns: ['quality'] },
      featureService: 'wine_quality_v1',
    });
    const fs = featureServiceQueries({
      joinSql,
      keys: ['wine_id'],
      timestampColumn: 'event_timestamp',
      features: ['alcohol'],
      target: 'quality',
      featuresLocation: 's3://b/features/',
      holdoutEvery: 5,
    });
    const all = [joinSql, ...Object.values(queries(5)), ...Object.values(fs)];
    for (const sql of all) expect(sql).not.toMatch(GLOBAL_ROW_NUMBER);
  });
});
