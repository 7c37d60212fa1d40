import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AthenaEngine, glueTableFromInput } from '../../lib/local/athena';
import { predictRow } from '../../lib/model/format';
import { type BatchPlan, type ModelCache, planBatch, predictObject } from '../../lib/pipelines/batch';
import { DataValidationError, PipelineInputError } from '../../lib/pipelines/errors';
import { BATCH_STAGING_TABLE } from '../../stacks/batch-inference-stack';
import { BUCKETS, CHECK_QUERY, type LocalS3, startLocalS3, WINE_TABLE } from './helpers';
import { linearModel, modelArchive } from './models';
import { writeParquet } from '../trainer/helpers';

const DATABASE = 'mlops_test';
const STAGING = `s3://${BUCKETS.curated}/batch-staging/`;
const MODEL_URI = `s3://${BUCKETS.artifacts}/runs/wine/r1/model.tar.gz`;
const model = linearModel(['fixed_acidity', 'alcohol'], [0.1, 0.3], 2, 'quality');
let s3: LocalS3;

beforeAll(async () => {
  s3 = await startLocalS3();
  await s3.objects.put(
    BUCKETS.artifacts,
    'runs/wine/r1/model.tar.gz',
    await modelArchive(model),
    'application/gzip',
  );
  // Raw headers (`fixed acidity`) map to the model's lake names; extra columns are ignored.
  await s3.objects.put(
    BUCKETS.raw,
    'incoming/a.csv',
    '"fixed acidity";"alcohol";"id"\n7.4;9.4;x\n7.8;9.8;y\n',
    'text/csv',
  );
  await s3.objects.put(
    BUCKETS.raw,
    'incoming/b.jsonl',
    '{"fixed_acidity": 11.2, "alcohol": 9.8}\n',
    'application/x-ndjson',
  );
  await s3.objects.put(BUCKETS.raw, 'incoming/_SUCCESS', '', 'text/plain');
  await s3.objects.put(BUCKETS.raw, 'bad/c.csv', '"fixed acidity";"alcohol"\n7.4;n/a\n', 'text/csv');
});
afterAll(() => s3.close());

const deps = () => ({
  objects: s3.objects,
  tables: [WINE_TABLE],
  database: DATABASE,
  readableBuckets: [BUCKETS.raw, BUCKETS.curated, BUCKETS.artifacts],
  outputPrefixes: [`s3://${BUCKETS.curated}/predictions/`],
  stagingLocation: STAGING,
  stagingTable: BATCH_STAGING_TABLE,
});
const input = {
  model: { uri: MODEL_URI },
  input: { prefix: `s3://${BUCKETS.raw}/incoming/` },
  output: `s3://${BUCKETS.curated}/predictions/wine`,
};

describe('Plan batch', () => {
  it("lists the data objects, checks the model and plans the run's staging and output", async () => {
    const plan = await planBatch({ input, execution: 'b-1' }, deps());
    expect(plan.items).toEqual([
      { bucket: BUCKETS.raw, key: 'incoming/a.csv', index: 0 },
      { bucket: BUCKETS.raw, key: 'incoming/b.jsonl', index: 1 },
    ]);
    expect(plan.staging_prefix).toBe(`${STAGING}execution=b-1/`);
    expect(plan.output_location).toBe(`s3://${BUCKETS.curated}/predictions/wine/b-1/`);
    expect(plan.query).toContain(`WHERE execution = 'b-1'`);
  });

  it.each([
    [
      'an output outside predictions/',
      { ...input, output: `s3://${BUCKETS.curated}/features/x` },
      /output must be under/,
    ],
    [
      'a missing model',
      { ...input, model: { uri: `s3://${BUCKETS.artifacts}/runs/none/model.tar.gz` } },
      /NoSuchKey|does not exist/,
    ],
    ['an empty prefix', { ...input, input: { prefix: `s3://${BUCKETS.raw}/nothing/` } }, /no input objects/],
    ['an unknown table', { ...input, input: { table: 'nope' } }, /tables are/],
    ['an unknown field', { ...input, extra: 1 }, /unknown field "extra"/],
    [
      'a model outside the lake',
      { ...input, model: { uri: 's3://other/m.tar.gz' } },
      /reads from the lake's buckets/,
    ],
  ])('fails on %s, before predicting anything', async (_, bad, message) => {
    await expect(planBatch({ input: bad, execution: 'b-x' }, deps())).rejects.toThrow(message);
    expect((await s3.keys(BUCKETS.curated)).filter((k) => k.includes('b-x'))).toEqual([]);
  });

  it('fails with PipelineInputError for a malformed input', async () => {
    await expect(planBatch({ input: { model: {} }, execution: 'b-x' }, deps())).rejects.toBeInstanceOf(
      PipelineInputError,
    );
  });
});

describe('Predict object and Write predictions', () => {
  let plan: BatchPlan;
  const cache: ModelCache = new Map();

  beforeAll(async () => {
    plan = await planBatch({ input, execution: 'b-2' }, deps());
    for (const item of plan.items) {
      await predictObject(
        { model_uri: plan.model_uri, item, staging_prefix: plan.staging_prefix },
        { objects: s3.objects, cache },
      );
    }
  });

  it('stages one JSON line per row with the prediction of lib/model predictRow', async () => {
    const text = Buffer.from(
      (await s3.objects.get(BUCKETS.curated, 'batch-staging/execution=b-2/part-00000.json')).body,
    ).toString();
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      {
        source: `s3://${BUCKETS.raw}/incoming/a.csv`,
        row_number: 1,
        prediction: predictRow(model, [7.4, 9.4]),
        record: '{"fixed_acidity":7.4,"alcohol":9.4}',
      },
      {
        source: `s3://${BUCKETS.raw}/incoming/a.csv`,
        row_number: 2,
        prediction: predictRow(model, [7.8, 9.8]),
        record: '{"fixed_acidity":7.8,"alcohol":9.8}',
      },
    ]);
    expect(cache.size).toBe(1);
  });

  it('fails an object with a missing value, naming it', async () => {
    await expect(
      predictObject(
        {
          model_uri: plan.model_uri,
          item: { bucket: BUCKETS.raw, key: 'bad/c.csv', index: 9 },
          staging_prefix: plan.staging_prefix,
        },
        { objects: s3.objects },
      ),
    ).rejects.toThrow(DataValidationError);
  });

  it('predicts a Parquet object with the reader of mlops predict, and names a bad cell by row and column', async () => {
    // prepare: raw column names, a typed and an integer column, then a null in the second row
    const dir = await mkdtemp(join(tmpdir(), 'batch-parquet-'));
    try {
      await writeParquet(join(dir, 'd.parquet'), 'SELECT * FROM (VALUES (7.4, 9::BIGINT, \'x\'), (7.8, 10::BIGINT, \'y\')) t("fixed acidity", alcohol, id)');
      await writeParquet(join(dir, 'bad.parquet'), 'SELECT * FROM (VALUES (7.4, 9.0), (NULL, 9.0)) t(fixed_acidity, alcohol)');
      await s3.objects.put(BUCKETS.raw, 'parquet/d.parquet', await readFile(join(dir, 'd.parquet')), 'application/octet-stream');
      await s3.objects.put(BUCKETS.raw, 'parquet/bad', await readFile(join(dir, 'bad.parquet')), 'application/octet-stream');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // Staged under an execution of its own, so the UNLOAD test below counts the planned run only.
    const request = (key: string) => ({ model_uri: plan.model_uri, item: { bucket: BUCKETS.raw, key, index: 7 }, staging_prefix: `${STAGING}execution=b-parquet/` });
    // act
    const done = await predictObject(request('parquet/d.parquet'), { objects: s3.objects });
    // assess
    expect(done.rows).toBe(2);
    const staged = Buffer.from((await s3.objects.get(BUCKETS.curated, 'batch-staging/execution=b-parquet/part-00007.json')).body).toString();
    expect(staged.trim().split('\n').map((l) => JSON.parse(l).prediction)).toEqual([predictRow(model, [7.4, 9]), predictRow(model, [7.8, 10])]);
    await expect(predictObject(request('parquet/bad'), { objects: s3.objects })).rejects.toThrow(
      new DataValidationError(`s3://${BUCKETS.raw}/parquet/bad: row 2, column "fixed_acidity": empty value (missing values are not supported)`),
    );
  });

  it("UNLOADs the run's staged predictions to Parquet with the local Athena engine", async () => {
    const athena = await AthenaEngine.start({
      stateDir: s3.stateDir,
      catalog: {
        databases: [DATABASE],
        tables: [
          glueTableFromInput(DATABASE, {
            Name: BATCH_STAGING_TABLE,
            PartitionKeys: [{ Name: 'execution', Type: 'string' }],
            StorageDescriptor: {
              Location: STAGING,
              Columns: [
                { Name: 'source', Type: 'string' },
                { Name: 'row_number', Type: 'bigint' },
                { Name: 'prediction', Type: 'double' },
                { Name: 'record', Type: 'string' },
              ],
              SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' },
            },
          }),
        ],
        workGroups: [{ name: 'wg', outputLocation: `s3://${BUCKETS.results}/results/`, enforce: true }],
      },
    });
    try {
      const { QueryExecutionId } = await athena.startQueryExecution({
        QueryString: plan.query,
        WorkGroup: 'wg',
      });
      const done = await athena.waitForQuery(QueryExecutionId);
      expect(done.Status.StateChangeReason ?? '').toBe('');
      const check = await athena.startQueryExecution(
        {
          QueryString: `SELECT count(*) AS n, sum(prediction) AS total FROM read_parquet('${plan.output_location}')`,
          WorkGroup: 'wg',
        },
        CHECK_QUERY,
      );
      await athena.waitForQuery(check.QueryExecutionId);
      const [, row] = (await athena.getQueryResults({ QueryExecutionId: check.QueryExecutionId })).ResultSet
        .Rows;
      expect(Number(row!.Data[0]!.VarCharValue)).toBe(3);
      const expected =
        predictRow(model, [7.4, 9.4]) + predictRow(model, [7.8, 9.8]) + predictRow(model, [11.2, 9.8]);
      expect(Number(row!.Data[1]!.VarCharValue)).toBeCloseTo(expected, 10);
    } finally {
      athena.close();
    }
  });
});
