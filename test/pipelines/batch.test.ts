import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
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
import { BUCKETS, CHECK_QUERY, csvGlueTable, type LocalS3, runQuery, startLocalS3, WINE_TABLE } from './helpers';
import { parquetBytes, parquetRowGroups } from '../../lib/trainer/parquet-rows';
import { linearModel, modelArchive } from './models';
import { writeParquet } from '../trainer/helpers';
import { unloadAt } from '../../lib/shared/unload';

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
    expect(plan.query.head).toContain(`WHERE execution = 'b-1'`);
    // each attempt of the UNLOAD into its own folder under the run's
    expect(plan.query.location).toBe(plan.output_location);
    expect(unloadAt(plan.query, 'attempt-0-1')).toMatch(/TO 's3:\/\/[^']+\/predictions\/wine\/b-1\/attempt-0-1\/' WITH \(format = 'PARQUET'\)$/);
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
        QueryString: unloadAt(plan.query, 'attempt-0-0'),
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

describe('the SQL path (a lake table, engine auto or sql)', () => {
  // Awkward values on purpose: many digits, negatives, zero, an exponent, values whose products round.
  const rows = [
    [7.4, 9.4],
    [0.1, 0.2],
    [-3.000000000000001, 12.345678901234567],
    [0, 1e-7],
    [15.9, 14.9],
    [1234.5678, 0.3],
  ];
  const sqlModel = linearModel(['fixed_acidity', 'alcohol'], [0.1 + 0.2, -1 / 3], Math.PI, 'quality');
  const SQL_MODEL_URI = `s3://${BUCKETS.artifacts}/runs/wine/sql/model.tar.gz`;
  const header = WINE_TABLE.columns.map((c) => c.name).join(';');
  const line = (r: number[]) => WINE_TABLE.columns.map((c) => (c.name === 'fixed_acidity' ? r[0] : c.name === 'alcohol' ? r[1] : 1)).join(';');
  const tableInput = { model: { uri: SQL_MODEL_URI }, input: { table: WINE_TABLE.name }, output: `s3://${BUCKETS.curated}/predictions/sql` };
  let athena: AthenaEngine;

  beforeAll(async () => {
    await s3.objects.put(BUCKETS.artifacts, 'runs/wine/sql/model.tar.gz', await modelArchive(sqlModel), 'application/gzip');
    const odd = linearModel(['alcohol', 'colour'], [1, 2], 0, 'quality');
    await s3.objects.put(BUCKETS.artifacts, 'runs/wine/odd/model.tar.gz', await modelArchive(odd), 'application/gzip');
    const { bucket, key } = { bucket: BUCKETS.raw, key: WINE_TABLE.location.replace(`s3://${BUCKETS.raw}/`, '') };
    await s3.objects.put(bucket, `${key}part-0.csv`, `${header}\n${rows.slice(0, 3).map(line).join('\n')}\n`, 'text/csv');
    await s3.objects.put(bucket, `${key}part-1.csv`, `${header}\n${rows.slice(3).map(line).join('\n')}\n`, 'text/csv');
    athena = await AthenaEngine.start({
      stateDir: s3.stateDir,
      catalog: {
        databases: [DATABASE],
        tables: [csvGlueTable(DATABASE, WINE_TABLE)],
        workGroups: [{ name: 'wg', outputLocation: `s3://${BUCKETS.results}/results/`, enforce: true }],
      },
    });
  });
  afterAll(() => athena?.close());

  const results = async (sql: string) => {
    const { QueryExecutionId } = await runQuery(athena, sql, DATABASE);
    return (await athena.getQueryResults({ QueryExecutionId })).ResultSet.Rows;
  };

  it('plans one UNLOAD whose predictions are bit for bit those of predictRow, after a check that counts the rows', async () => {
    // act
    const plan = await planBatch({ input: tableInput, execution: 'sql-1' }, deps());
    const check = await results(plan.check_query!);
    await runQuery(athena, unloadAt(plan.query, 'attempt-0-0'), DATABASE);
    // assess: the plan, the check's one row, then every row of the Parquet output
    expect(plan.engine).toBe('sql');
    expect(plan.query.head).toMatch(/^UNLOAD \(SELECT TRY_CAST\("fixed_acidity" AS DOUBLE\) AS "fixed_acidity", /);
    expect(check[1]!.Data.map((d) => d.VarCharValue)).toEqual(['6', '0']);
    const files = (await s3.keys(BUCKETS.curated)).filter((k) => k.startsWith('predictions/sql/sql-1/'));
    expect(files.length).toBeGreaterThan(0);
    const got: number[][] = [];
    for (const file of files) {
      const body = (await s3.objects.get(BUCKETS.curated, file)).body;
      for await (const group of parquetRowGroups(parquetBytes(body), file)) {
        expect(group.header).toEqual(['fixed_acidity', 'alcohol', 'prediction']);
        got.push(...group.rows.map((r) => r.map(Number)));
      }
    }
    const expected = rows.map((r) => [...r, predictRow(sqlModel, r)]);
    const order = (a: number[], b: number[]) => a[0]! - b[0]! || a[1]! - b[1]!;
    // toEqual on doubles is exact: the SQL sum is predictRow's, term for term.
    expect(got.sort(order)).toEqual(expected.sort(order));
  });

  it('counts the rows lacking a numeric feature, so the machine writes nothing for an incomplete table', async () => {
    // prepare: a third object with an empty and a non-numeric alcohol
    const key = WINE_TABLE.location.replace(`s3://${BUCKETS.raw}/`, '');
    await s3.objects.put(BUCKETS.raw, `${key}part-2.csv`, `${header}\n${line([1, 2]).replace(/;2;/, ';;')}\n${line([1, 2]).replace(/;2;/, ';n/a;')}\n`, 'text/csv');
    try {
      // act
      const plan = await planBatch({ input: tableInput, execution: 'sql-2' }, deps());
      const check = await results(plan.check_query!);
      // assess
      expect(check[1]!.Data.map((d) => d.VarCharValue)).toEqual(['8', '2']);
    } finally {
      await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKETS.raw, Key: `${key}part-2.csv` }));
    }
  });

  it.each([
    ['a prefix input with engine sql', { ...input, engine: 'sql' }, /engine "sql" cannot predict this input: it predicts a lake table, and the input is a prefix/],
    [
      'a model feature the table lacks, with engine sql',
      { ...tableInput, engine: 'sql', model: { uri: `s3://${BUCKETS.artifacts}/runs/wine/odd/model.tar.gz` } },
      /engine "sql" cannot predict this input: the model needs "colour", which table winequality_red_raw does not have/,
    ],
    ['an unknown engine', { ...tableInput, engine: 'spark' }, /engine must be "auto", "sql" or "lambda"/],
    ['a wrong-typed engine', { ...tableInput, engine: 1 }, /engine must be "auto", "sql" or "lambda"/],
  ])('fails on %s, before predicting anything', async (_, bad, message) => {
    await expect(planBatch({ input: bad, execution: 'sql-x' }, deps())).rejects.toThrow(message);
  });

  it('takes the Distributed Map for a prefix (auto), when forced (lambda), and for a FLOAT column (auto), refusing it under engine sql', async () => {
    const floatTable = { ...WINE_TABLE, name: 'wine_float', columns: WINE_TABLE.columns.map((c) => (c.name === 'alcohol' ? { ...c, type: 'float' } : c)) };
    const withFloat = () => ({ ...deps(), tables: [WINE_TABLE, floatTable] });
    expect((await planBatch({ input, execution: 'sql-a' }, deps())).engine).toBe('lambda');
    expect((await planBatch({ input: { ...tableInput, engine: 'lambda' }, execution: 'sql-b' }, deps())).engine).toBe('lambda');
    const float = { ...tableInput, input: { table: 'wine_float' } };
    expect((await planBatch({ input: float, execution: 'sql-c' }, withFloat())).engine).toBe('lambda');
    await expect(planBatch({ input: { ...float, engine: 'sql' }, execution: 'sql-d' }, withFloat())).rejects.toThrow(
      /column alcohol of wine_float is float; the SQL path reads only exact numeric types/,
    );
  });
});
