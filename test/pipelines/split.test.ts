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
import { evaluateCandidate, scoreModel } from '../../lib/pipelines/evaluate';
import { listParts, numericBlocks } from '../../lib/pipelines/parquet-parts';
import { stageTrainingData } from '../../lib/pipelines/stage-data';
import { linearModel, modelArchive } from './models';
import { BUCKETS, csvGlueTable, type LocalS3, runQuery, startLocalS3 } from './helpers';
import { type AttemptUnload, attemptLocation, unloadAt } from '../../lib/shared/unload';

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
    // As Athena writes an UNLOAD: several files (here one per 2,048 rows).
    unloadFileRows: 2048,
  });
});
afterAll(async () => {
  athena.close();
  await s3.close();
});

let run = 0;
/** The queries, each call with its own splits location (an UNLOAD's location must be empty). */
const queries = (holdoutEvery: number) =>
  trainingQueries({
    database: DATABASE,
    table: TABLE,
    target: 'y',
    featuresLocation: `s3://${BUCKETS.curated}/features/generated/run/`,
    holdoutEvery,
    splitsLocation: `s3://${BUCKETS.curated}/splits/generated/run-${++run}/`,
  });

/** The first attempt's folder, as the Task names it (lib/shared/unload.ts). */
const A0 = 'attempt-0-0';
/** Where the UNLOAD's first attempt writes. */
const locationOf = (u: AttemptUnload) => attemptLocation(u.location, A0);

/** An UNLOAD's rows (its first attempt), part after part, as `a,b,y` keys. */
async function resultRows(u: AttemptUnload): Promise<string[]> {
  await runQuery(athena, unloadAt(u, A0), DATABASE);
  const out: string[] = [];
  for await (const b of numericBlocks(s3.objects, await listParts(s3.objects, locationOf(u)), ['a', 'b', 'y'])) {
    for (let i = 0; i < b.rows; i++) out.push(b.values.map((v) => v![i]).join(','));
  }
  return out;
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
    const again = await resultRows(queries(every).holdout);
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
      splitsLocation: 's3://b/splits/',
    });
    const text = (q: string | AttemptUnload) => (typeof q === 'string' ? q : unloadAt(q, A0));
    const all = [joinSql, ...Object.values(queries(5)).map(text), ...Object.values(fs).map(text)];
    for (const sql of all) expect(sql).not.toMatch(GLOBAL_ROW_NUMBER);
  });
});

describe('the splits as many Parquet parts', () => {
  it('stages every part of a multi-part UNLOAD, and evaluate streams them to the metrics of the whole holdout', async () => {
    // arrange: both splits unloaded, one in two rows held out, so each is several files
    const q = queries(2);
    const trainRows = await resultRows(q.train);
    const holdoutRows = await resultRows(q.holdout);
    const trainParts = await listParts(s3.objects, locationOf(q.train));
    const holdoutParts = await listParts(s3.objects, locationOf(q.holdout));
    expect(trainParts.length).toBeGreaterThanOrEqual(2);
    expect(holdoutParts.length).toBeGreaterThanOrEqual(2);
    const model = linearModel(['a', 'b'], [0.0003, -0.02], 1.5, 'y');
    await s3.objects.put(BUCKETS.artifacts, 'models/m/run/model.tar.gz', await modelArchive(model), 'application/gzip');
    // act
    const channel = (split: string) => `s3://${BUCKETS.artifacts}/data/m/run/${split}/`;
    const staged = await stageTrainingData(
      {
        train: { unloaded: locationOf(q.train), channel: channel('train') },
        holdout: { unloaded: locationOf(q.holdout), channel: channel('holdout') },
      },
      s3.objects,
    );
    const streamed = await evaluateCandidate(
      { model_uri: `s3://${BUCKETS.artifacts}/models/m/run/model.tar.gz`, holdout_uri: staged.holdout, thresholds: {} },
      { objects: s3.objects },
    );
    // assess: every part copied in order, the rows counted from the footers
    expect(staged).toMatchObject({
      train_rows: trainRows.length,
      holdout_rows: holdoutRows.length,
      train_parts: trainParts.length,
      holdout_parts: holdoutParts.length,
    });
    const keys = await s3.keys(BUCKETS.artifacts);
    expect(keys.filter((k) => k.startsWith('data/m/run/train/'))).toEqual(trainParts.map((_, i) => `data/m/run/train/part-0000${i}.parquet`));
    // the same metrics as the whole holdout held in memory (CSV text, scored at once), to 1e-12
    const whole = scoreModel(model, `a,b,y\n${holdoutRows.join('\n')}\n`, 'the holdout as one CSV');
    expect(streamed.metrics.rows).toBe(whole.rows);
    for (const m of ['rmse', 'mae', 'r2'] as const) {
      expect(Math.abs(streamed.metrics[m] - whole[m])).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(whole[m])));
    }
  });
});
