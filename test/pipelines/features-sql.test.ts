/**
 * The features step's SQL, run by the local Athena engine (DuckDB) over the wine CSV in the local
 * S3 engine, and the staging copy of its results into training channels the trainer can read.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WINE_CSV_PATH } from '../../lib/datasets/wine';
import { AthenaEngine } from '../../lib/local/athena';
import { parseS3Uri } from '../../lib/pipelines/catalog';
import { stageTrainingData } from '../../lib/pipelines/stage-data';
import { trainingQueries } from '../../lib/pipelines/sql';
import { parseCsv, toTrainingSet } from '../../lib/trainer/csv';
import { BUCKETS, CHECK_QUERY, csvGlueTable, type LocalS3, runQuery, startLocalS3, WINE_TABLE } from './helpers';

const DATABASE = 'mlops_test';
let s3: LocalS3;
let athena: AthenaEngine;

beforeAll(async () => {
  s3 = await startLocalS3();
  const { key } = parseS3Uri(WINE_TABLE.location);
  await s3.objects.put(BUCKETS.raw, `${key}winequality-red.csv`, readFileSync(WINE_CSV_PATH), 'text/csv');
  const table = csvGlueTable(DATABASE, WINE_TABLE);
  athena = await AthenaEngine.start({
    stateDir: s3.stateDir,
    catalog: {
      databases: [DATABASE],
      tables: [table],
      workGroups: [{ name: 'wg', outputLocation: `s3://${BUCKETS.results}/results/`, enforce: true }],
    },
  });
});
afterAll(async () => {
  athena.close();
  await s3.close();
});

const run = (sql: string) => runQuery(athena, sql, DATABASE);

const queries = trainingQueries({
  database: DATABASE,
  table: WINE_TABLE,
  target: 'quality',
  featuresLocation: `s3://${BUCKETS.curated}/features/winequality_red_raw/run-1/`,
  holdoutEvery: 5,
});

describe('features SQL on the local Athena engine', () => {
  it('UNLOADs every row with its split to Parquet in the curated zone', async () => {
    await run(queries.features);
    const keys = await s3.keys(BUCKETS.curated);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^features\/winequality_red_raw\/run-1\/.+\.parquet$/);
    // A check query in DuckDB's dialect (read_parquet), not the pipeline's.
    const counts = await runQuery(
      athena,
      `SELECT split, count(*) AS n, bool_and(row_id % 5 = 0) AS every_fifth FROM read_parquet('s3://${BUCKETS.curated}/features/') GROUP BY split ORDER BY split`,
      DATABASE,
      'wg',
      CHECK_QUERY,
    );
    const page = await athena.getQueryResults({ QueryExecutionId: counts.QueryExecutionId });
    expect(page.ResultSet.Rows.slice(1).map((r) => r.Data.map((d) => d.VarCharValue))).toEqual([
      // one in five expected (320 of 1,599); the hash holds out 296, within two standard deviations
      ['holdout', '296', 'true'],
      ['train', '1303', 'false'],
    ]);
  });

  it('splits deterministically, and the staged results are CSV the trainer reads', async () => {
    // act: the two exports, twice, and the staging copy
    const train = await run(queries.train);
    const holdout = await run(queries.holdout);
    const again = await run(queries.holdout);
    const staged = await stageTrainingData(
      {
        train: {
          result: train.ResultConfiguration.OutputLocation,
          object: `s3://${BUCKETS.artifacts}/runs/m/run-1/data/train/train.csv`,
        },
        holdout: {
          result: holdout.ResultConfiguration.OutputLocation,
          object: `s3://${BUCKETS.artifacts}/runs/m/run-1/data/holdout/holdout.csv`,
        },
      },
      s3.objects,
    );
    // assess
    const text = async (uri: string) => {
      const { bucket, key } = parseS3Uri(uri);
      return Buffer.from((await s3.objects.get(bucket, key)).body).toString('utf8');
    };
    expect(await text(again.ResultConfiguration.OutputLocation)).toBe(
      await text(holdout.ResultConfiguration.OutputLocation),
    );
    const trainSet = toTrainingSet([parseCsv(await text(staged.train), { source: 'train.csv' })], 'quality');
    const holdoutSet = toTrainingSet(
      [parseCsv(await text(staged.holdout), { source: 'holdout.csv' })],
      'quality',
    );
    expect(trainSet.X.rows).toBe(1303);
    expect(holdoutSet.X.rows).toBe(296);
    expect(trainSet.featureNames).toEqual(
      WINE_TABLE.columns.map((c) => c.name).filter((c) => c !== 'quality'),
    );
    expect(await s3.keys(BUCKETS.artifacts)).toEqual([
      'runs/m/run-1/data/holdout/holdout.csv',
      'runs/m/run-1/data/train/train.csv',
    ]);
  });
});
