/**
 * The features step's SQL, run by the local Athena engine (DuckDB) over the wine CSV in the local
 * S3 engine, and the staging copy of the split UNLOADs' Parquet parts into the training channels.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WINE_CSV_PATH } from '../../lib/datasets/wine';
import { AthenaEngine } from '../../lib/local/athena';
import { parseS3Uri } from '../../lib/pipelines/catalog';
import { stageTrainingData } from '../../lib/pipelines/stage-data';
import { trainingQueries } from '../../lib/pipelines/sql';
import { listParts, numericBlocks } from '../../lib/pipelines/parquet-parts';
import { BUCKETS, CHECK_QUERY, csvGlueTable, type LocalS3, runQuery, startLocalS3, WINE_TABLE } from './helpers';
import { unloadAt } from '../../lib/shared/unload';

/** The first attempt's folder, as the Task names it (lib/shared/unload.ts). */
const A0 = 'attempt-0-0';

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

const SPLITS = `s3://${BUCKETS.curated}/splits/winequality_red_raw/run-1/`;
const options = {
  database: DATABASE,
  table: WINE_TABLE,
  target: 'quality',
  featuresLocation: `s3://${BUCKETS.curated}/features/winequality_red_raw/run-1/`,
  holdoutEvery: 5,
  splitsLocation: SPLITS,
};
const queries = trainingQueries(options);

describe('features SQL on the local Athena engine', () => {
  it('UNLOADs every row with its split to Parquet in the curated zone', async () => {
    await run(unloadAt(queries.features, A0));
    const keys = (await s3.keys(BUCKETS.curated)).filter((k) => k.startsWith('features/'));
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

  it('splits deterministically, and stages the split UNLOADs as Parquet parts the readers take', async () => {
    // act: the two exports, the holdout again to another location, and the staging copy
    await run(unloadAt(queries.train, A0));
    await run(unloadAt(queries.holdout, A0));
    await run(unloadAt(trainingQueries({ ...options, splitsLocation: `s3://${BUCKETS.curated}/splits/winequality_red_raw/again/` }).holdout, A0));
    const staged = await stageTrainingData(
      {
        train: { unloaded: `${SPLITS}train/${A0}/`, channel: `s3://${BUCKETS.artifacts}/data/m/run-1/train/` },
        holdout: { unloaded: `${SPLITS}holdout/${A0}/`, channel: `s3://${BUCKETS.artifacts}/data/m/run-1/holdout/` },
      },
      s3.objects,
    );
    // assess: the counts from the footers, the parts copied, the same holdout rows twice
    expect(staged).toMatchObject({ train_rows: 1303, holdout_rows: 296, train_parts: 1, holdout_parts: 1 });
    expect(await s3.keys(BUCKETS.artifacts)).toEqual(['data/m/run-1/holdout/part-00000.parquet', 'data/m/run-1/train/part-00000.parquet']);
    const columns = [...WINE_TABLE.columns.map((c) => c.name)];
    const rows = async (uri: string) => {
      const out: number[][] = [];
      for await (const b of numericBlocks(s3.objects, await listParts(s3.objects, uri), columns)) {
        for (let i = 0; i < b.rows; i++) out.push(b.values.map((v) => v![i]!));
      }
      return out;
    };
    const holdout = await rows(staged.holdout);
    expect(holdout).toHaveLength(296);
    expect(await rows(`s3://${BUCKETS.curated}/splits/winequality_red_raw/again/holdout/`)).toEqual(holdout);
    expect((await rows(staged.train)).length).toBe(1303);
  });
});
