import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AthenaEngine, glueTableFromInput } from '../../lib/local/athena';
import { predictRow } from '../../lib/model/format';
import {
  type BatchPlan,
  type ModelCache,
  type PredictBatchResult,
  planBatch,
  predictBatch,
  predictObject,
  STAGED_PART_BYTES,
  textLines,
} from '../../lib/pipelines/batch';
import type { ObjectStore } from '../../lib/pipelines/objects';
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
  inputBuckets: [BUCKETS.raw, BUCKETS.curated],
});
const input = {
  model: { uri: MODEL_URI },
  input: { prefix: `s3://${BUCKETS.raw}/incoming/` },
  output: `s3://${BUCKETS.curated}/predictions/wine`,
};

describe('Plan batch', () => {
  it("resolves the prefix the Distributed Map lists, checks the model and plans the run's staging and output", async () => {
    const plan = await planBatch({ input, execution: 'b-1' }, deps());
    expect(plan).toMatchObject({ bucket: BUCKETS.raw, prefix: 'incoming/' });
    // The object list is the Map's ItemReader's to read, never the plan's (no payload cap).
    expect(plan).not.toHaveProperty('items');
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
    [
      'an input prefix in the artifacts bucket',
      { ...input, input: { prefix: `s3://${BUCKETS.artifacts}/runs/` } },
      /the input must be in one of the buckets lake-raw, lake-curated/,
    ],
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
  let result: PredictBatchResult;
  const cache: ModelCache = new Map();

  beforeAll(async () => {
    plan = await planBatch({ input, execution: 'b-2' }, deps());
    // One ItemBatcher batch as the Map's ItemReader lists the prefix: `_SUCCESS` included.
    const items = [
      { bucket: plan.bucket, key: 'incoming/_SUCCESS', index: 0 },
      { bucket: plan.bucket, key: 'incoming/a.csv', index: 1 },
      { bucket: plan.bucket, key: 'incoming/b.jsonl', index: 2 },
    ];
    result = await predictBatch(
      { model_uri: plan.model_uri, staging_prefix: plan.staging_prefix, items },
      { objects: s3.objects, cache },
    );
  });

  it('predicts each data object of the batch and skips what Athena skips', () => {
    expect(result).toEqual({
      objects: [
        { source: `s3://${BUCKETS.raw}/incoming/a.csv`, rows: 2 },
        { source: `s3://${BUCKETS.raw}/incoming/b.jsonl`, rows: 1 },
      ],
      rows: 3,
      skipped: ['incoming/_SUCCESS'],
    });
  });

  it('stages one JSON line per row with the prediction of lib/model predictRow', async () => {
    const text = Buffer.from(
      (await s3.objects.get(BUCKETS.curated, 'batch-staging/execution=b-2/part-00001.json')).body,
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

  it('reads an object as a stream: the first part is staged before the object has been read through', async () => {
    // prepare: 2,000 rows whose predictions (about 150 bytes a row) fill several parts of 64 KiB
    const rows = 2000;
    const partBytes = 64 * 1024;
    const csv = Buffer.from(`"fixed acidity";"alcohol"\n${'7.4;9.4\n'.repeat(rows)}`);
    const CHUNK = 1024;
    const chunks = Math.ceil(csv.length / CHUNK);
    let yielded = 0;
    const readAtPut: number[] = [];
    const objects: ObjectStore = {
      ...s3.objects,
      async stream() {
        return (async function* () {
          for (let i = 0; i < csv.length; i += CHUNK, yielded++) yield csv.subarray(i, i + CHUNK);
        })();
      },
      async put(bucket, key, body, type) {
        readAtPut.push(yielded);
        return s3.objects.put(bucket, key, body, type);
      },
    };
    // act
    const out = await predictObject(
      { model_uri: plan.model_uri, item: { bucket: BUCKETS.raw, key: 'big/x.csv', index: 7 }, staging_prefix: plan.staging_prefix },
      { objects, cache, partBytes },
    );
    // assess
    expect(out.rows).toBe(rows);
    expect(out.staged.length).toBeGreaterThan(2);
    const names = out.staged.map((_, i) => `part-00007${i === 0 ? '' : `-${String(i).padStart(4, '0')}`}.json`);
    expect(out.staged).toEqual(names.map((n) => `${plan.staging_prefix}${n}`));
    expect(readAtPut[0]).toBeLessThan(chunks / 2);
    const sizes = await Promise.all(
      names.map(async (k) => (await s3.objects.get(BUCKETS.curated, `batch-staging/execution=b-2/${k}`)).body.length),
    );
    expect(sizes[0]).toBeGreaterThanOrEqual(partBytes);
    expect(sizes.reduce((a, b) => a + b)).toBeGreaterThan(rows * 100);
    expect(STAGED_PART_BYTES).toBeGreaterThan(partBytes); // the Lambda's parts are larger
  });

  it('empties the parts it staged when an object fails part-way, so a tolerant run never UNLOADs half of it', async () => {
    const good = '7.4;9.4\n'.repeat(2000);
    await s3.objects.put(BUCKETS.raw, 'big/bad-at-end.csv', `"fixed acidity";"alcohol"\n${good}7.4;oops\n`, 'text/csv');
    await expect(
      predictObject(
        { model_uri: plan.model_uri, item: { bucket: BUCKETS.raw, key: 'big/bad-at-end.csv', index: 8 }, staging_prefix: plan.staging_prefix },
        { objects: s3.objects, cache, partBytes: 64 * 1024 },
      ),
    ).rejects.toThrow(/line 2002, column "alcohol": "oops" is not a number/);
    const staged = await s3.objects.get(BUCKETS.curated, 'batch-staging/execution=b-2/part-00008.json');
    expect(staged.body.length).toBe(0);
    // The emptied part is not left for the UNLOAD below: it reads zero rows from it.
  });

  it('splits lines across chunk boundaries, with \\r\\n and a multi-byte character cut in two', async () => {
    const bytes = Buffer.from('a;b\r\nü;2\nlast');
    const parts = [bytes.subarray(0, 6), bytes.subarray(6, 7), bytes.subarray(7)];
    const lines: string[] = [];
    for await (const l of textLines((async function* () { yield* parts; })())) lines.push(l);
    expect(lines).toEqual(['a;b', 'ü;2', 'last']);
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
      // The three rows of the batch and the 2,000 of the streamed object; none of the failed one.
      expect(Number(row!.Data[0]!.VarCharValue)).toBe(3 + 2000);
      const expected =
        predictRow(model, [7.4, 9.4]) + predictRow(model, [7.8, 9.8]) + predictRow(model, [11.2, 9.8]) +
        2000 * predictRow(model, [7.4, 9.4]);
      expect(Number(row!.Data[1]!.VarCharValue)).toBeCloseTo(expected, 4);
    } finally {
      athena.close();
    }
  });
});
