import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WINE_CSV_PATH, WINE_RAW_PREFIX } from '../../lib/datasets/wine';
import { DataValidationError, PipelineInputError } from '../../lib/pipelines/errors';
import { MAX_ENVIRONMENT_VALUE, planTrainingRun, trainingJobName } from '../../lib/pipelines/training-plan';
import { unloadAt } from '../../lib/shared/unload';
import type { AthenaEngine } from '../../lib/local/athena';
import {
  BUCKETS,
  engineAggregate,
  failure,
  type LocalS3,
  readDataVersion,
  startLocalS3,
  startTestAthena,
  textTwinGlueTable,
  WINE_TABLE,
} from './helpers';

let s3: LocalS3;
let athena: AthenaEngine;
const DATABASE = 'mlops_test';
const csv = readFileSync(WINE_CSV_PATH, 'utf8');
const KEY = `${WINE_RAW_PREFIX}winequality-red.csv`;

beforeAll(async () => {
  s3 = await startLocalS3();
  // Validate data aggregates over the table's text twin in Athena: here the local engine (DuckDB).
  athena = await startTestAthena(s3, DATABASE, [textTwinGlueTable(DATABASE, WINE_TABLE)]);
});
afterAll(async () => {
  athena.close();
  await s3.close();
});

const deps = () => ({
  objects: s3.objects,
  tables: [WINE_TABLE],
  database: DATABASE,
  aggregate: engineAggregate(athena, DATABASE),
  readableBuckets: [BUCKETS.raw],
  artifactsBucket: BUCKETS.artifacts,
  featuresLocation: `s3://${BUCKETS.curated}/features/`,
  now: () => new Date('2026-11-02T00:00:00Z'),
});
const input = {
  dataset: 'winequality_red_raw',
  target: 'quality',
  hyperparameters: { alpha: 0.1 },
  thresholds: { max_rmse: 0.8 },
};

/** Runs `task` over `items`, 16 at a time (the local S3 engine answers each request on its own). */
async function eachConcurrently<T>(items: readonly T[], task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) await task(items[i]!);
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

/** Replaces the dataset's objects with the given ones. */
async function putDataset(objects: Record<string, string>): Promise<void> {
  // Listed through the store: it pages past ListObjectsV2's 1,000 keys.
  await eachConcurrently(await s3.objects.list(BUCKETS.raw, ''), (key) =>
    s3.client.send(new DeleteObjectCommand({ Bucket: BUCKETS.raw, Key: key })),
  );
  await eachConcurrently(await s3.objects.list(BUCKETS.artifacts, ''), (key) =>
    s3.client.send(new DeleteObjectCommand({ Bucket: BUCKETS.artifacts, Key: key })),
  );
  // Straight into the engine's store: 2,100 fixture PUTs over HTTP cost more than the plan under test.
  await eachConcurrently(Object.entries(objects), ([key, body]) => s3.store.put(BUCKETS.raw, key, body, { contentType: 'text/csv' }));
}

describe('Validate data on the wine dataset', () => {
  beforeEach(() => putDataset({ [KEY]: csv }));

  it('validates every row, records the object version and writes the profile', async () => {
    // prepare
    const put = await s3.objects.get(BUCKETS.raw, KEY);
    // act
    const { plan, profile } = await planTrainingRun({ input, execution: 'run-1' }, deps());
    // assess
    expect(profile.rows).toBe(1599);
    expect(put.versionId).toBeTruthy();
    // The state carries where the data version is and its digest; the list is the object's.
    const versionUri = `s3://${BUCKETS.artifacts}/runs/winequality-red/run-1/data-version.json`;
    expect(plan.data_version).toMatchObject({ uri: versionUri, objects: 1 });
    const body = (await s3.objects.get(BUCKETS.artifacts, 'runs/winequality-red/run-1/data-version.json')).body;
    expect(plan.data_version.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(JSON.parse(Buffer.from(body).toString())).toEqual({
      source: WINE_TABLE.location,
      objects: [{ key: KEY, version_id: put.versionId, etag: put.etag }],
    });
    expect(put.etag).toMatch(/^"[0-9a-f]{32}"$/);
    // The trainer records that one object, its version and digest, in model.json.
    expect(JSON.parse(plan.data_version_json)).toEqual({
      source: `s3://${BUCKETS.artifacts}/`,
      objects: [
        {
          key: 'runs/winequality-red/run-1/data-version.json',
          version_id: plan.data_version.version_id,
          sha256: plan.data_version.sha256,
        },
      ],
    });
    expect(plan.hyperparameters).toEqual({ alpha: '0.1', target: 'quality' });
    expect(plan.features).toHaveLength(11);
    expect(plan.training_job_name).toBe('train-run-1');
    // One prefix per writer: the splits under data/, the model under models/, the profile under runs/.
    expect(plan.locations).toMatchObject({
      train: `s3://${BUCKETS.artifacts}/data/winequality-red/run-1/train/`,
      holdout: `s3://${BUCKETS.artifacts}/data/winequality-red/run-1/holdout/`,
      training_output: `s3://${BUCKETS.artifacts}/models/winequality-red/run-1/`,
      // where the split UNLOADs write their Parquet parts, which "Stage training data" copies to data/
      splits: {
        train: `s3://${BUCKETS.curated}/splits/winequality_red_raw/run-1/train/`,
        holdout: `s3://${BUCKETS.curated}/splits/winequality_red_raw/run-1/holdout/`,
      },
    });
    // each UNLOAD cut around its attempt's folder, which the Task names
    expect(unloadAt(plan.queries.train, 'attempt-1-2')).toMatch(
      new RegExp(`^UNLOAD \\(SELECT .* ORDER BY .*\\) TO 's3://${BUCKETS.curated}/splits/winequality_red_raw/run-1/train/attempt-1-2/' WITH \\(format = 'PARQUET'\\)$`),
    );
    expect(plan.queries.train.location).toBe(plan.locations.splits.train);
    expect(plan.queries.holdout.location).toBe(plan.locations.splits.holdout);
    expect(plan.queries.features).toMatchObject({
      head: expect.stringMatching(/^UNLOAD \(SELECT /),
      tail: "/' WITH (format = 'PARQUET')",
      location: plan.locations.features,
    });
    expect(plan.queries.features.head).toMatch(new RegExp(`TO 's3://${BUCKETS.curated}/features/winequality_red_raw/run-1/$`));
    expect(await s3.keys(BUCKETS.artifacts)).toEqual([
      'runs/winequality-red/run-1/data-version.json',
      'runs/winequality-red/run-1/profile.json',
    ]);
    const written = JSON.parse(
      Buffer.from(
        (await s3.objects.get(BUCKETS.artifacts, 'runs/winequality-red/run-1/profile.json')).body,
      ).toString(),
    );
    const alcohol = written.columns.find((c: { name: string }) => c.name === 'alcohol');
    expect(alcohol).toMatchObject({ min: 8.4, max: 14.9, nulls: 0 });
    expect(alcohol.mean).toBeCloseTo(10.423, 3);
  });

  it('fails if a range is violated, naming the value', async () => {
    const err = await failure(
      planTrainingRun({ input: { ...input, ranges: { alcohol: { max: 14 } } }, execution: 'r' }, deps()),
    );
    expect(err).toBeInstanceOf(DataValidationError);
    expect(err.message).toMatch(/column "alcohol": 14\.\d+ is outside the allowed range \[-∞, 14\]/);
    expect(await s3.keys(BUCKETS.artifacts)).toEqual([]);
  });
});

describe('Validate data rejects bad data without writing anything', () => {
  const header = csv.split('\n')[0]!;
  const rows = csv.split('\n').slice(1, 200);
  const cases: [string, string, RegExp][] = [
    [
      'a missing column',
      [header.replace(';"quality"', ''), ...rows.map((r) => r.replace(/;\d+$/, ''))].join('\n'),
      /missing column "quality"/,
    ],
    [
      'a non-numeric value',
      [header, ...rows.slice(0, 5), rows[5]!.replace(/^[^;]*/, 'abc'), ...rows.slice(6)].join('\n'),
      // An aggregate knows the column and value, not the line: the catalog name, one value, a count.
      /dataset winequality_red_raw: column "fixed_acidity": "abc" is not a number \(1 row not numbers\)/,
    ],
    [
      'a missing value',
      [header, rows[0]!.replace(/^[^;]*/, ''), ...rows.slice(1)].join('\n'),
      /dataset winequality_red_raw: column "fixed_acidity": empty value in 1 row/,
    ],
    ['an empty object', '', /the object is empty/],
    ['a header without rows', header, /header but no data rows/],
    ['too few rows', [header, ...rows.slice(0, 20)].join('\n'), /has 20 rows, but at least 50 are required/],
    [
      'a fractional integer column',
      [header, ...rows.map((r) => r.replace(/;(\d+)$/, ';$1.5'))].join('\n'),
      /is not a whole number/,
    ],
  ];

  it.each(cases)('fails on %s', async (_, body, message) => {
    await putDataset({ [KEY]: body });
    const err = await failure(planTrainingRun({ input, execution: 'run-bad' }, deps()));
    expect(err).toBeInstanceOf(DataValidationError);
    expect(err.message).toMatch(message);
    expect(await s3.keys(BUCKETS.artifacts)).toEqual([]);
  });
});

describe('Validate data rejects bad input before reading', () => {
  beforeEach(() => putDataset({ [KEY]: csv }));
  const cases: [string, unknown, string, RegExp][] = [
    ['not an object', 'wine', 'e1', /must be a JSON object/],
    ['an unknown field', { ...input, treshold: 1 }, 'e1', /unknown field "treshold"/],
    ['an unknown table', { ...input, dataset: 'nope' }, 'e1', /tables are: winequality_red_raw/],
    [
      'an unregistered prefix',
      { ...input, dataset: 's3://elsewhere/x/' },
      'e1',
      /not the location of a table/,
    ],
    ['a target that is not a column', { ...input, target: 'price' }, 'e1', /target "price" is not a column/],
    [
      'an unknown hyperparameter',
      { ...input, hyperparameters: { alpah: 1 } },
      'e1',
      /unknown hyperparameter "alpah"/,
    ],
    [
      'an out-of-range hyperparameter',
      { ...input, hyperparameters: { l1_ratio: 2 } },
      'e1',
      /l1_ratio must be a number between 0 and 1/,
    ],
    ['a bad threshold', { ...input, thresholds: { max_rmse: -1 } }, 'e1', /thresholds\.max_rmse/],
    ['an execution name with spaces', input, 'my run', /execution name must be/],
    [
      'a trigger whose report is not an s3:// URI',
      { ...input, trigger: { reason: 'DriftDetected', report_uri: 'https://x/report.json', event_id: 'e-1' } },
      'e1',
      /trigger\.report_uri must be the s3:\/\/ URI of the report/,
    ],
  ];
  it.each(cases)('fails on %s', async (_, bad, execution, message) => {
    const err = await failure(planTrainingRun({ input: bad, execution }, deps()));
    expect(err).toBeInstanceOf(PipelineInputError);
    expect(err.message).toMatch(message);
    expect(await s3.keys(BUCKETS.artifacts)).toEqual([]);
  });

  const limits = {
    defaultInstanceType: 'm5.large',
    instanceTypes: ['m5.large', 'm5.xlarge'],
    maxInstanceCount: 2,
    maxVolumeSizeGb: 100,
    inputModes: ['File' as const],
  };
  it.each([
    [{ instance_type: 'p3.2xlarge' }, 'instance_type must be one of m5.large, m5.xlarge in this environment, but "p3.2xlarge" was provided'],
    [{ instance_count: 3 }, 'instance_count must be at most 2 in this environment, but 3 was provided'],
    [{ volume_size_gb: 500 }, 'volume_size_gb must be at most 100 in this environment, but 500 was provided'],
    [{ instance_count: 0 }, 'instance_count must be at least 1, but 0 was provided'],
    [{ volume_size_gb: 1.5 }, 'volume_size_gb must be a whole number, but 1.5 was provided'],
    [{ instance_type: 'ml m5; rm' }, 'instance_type must be a SageMaker instance type such as m5.xlarge, but "ml m5; rm" was provided'],
    [{ input_mode: 'FastFile' }, 'input_mode must be one of File in this environment, but "FastFile" was provided'],
    [{ input_mode: 'Pipe' }, 'input_mode must be File or FastFile, but "Pipe" was provided'],
  ])('refuses %o over the training limits, writing nothing', async (resources, message) => {
    const err = await failure(
      planTrainingRun({ input: { ...input, ...resources }, execution: 'limits' }, { ...deps(), trainingLimits: limits }),
    );
    expect(err).toBeInstanceOf(PipelineInputError);
    expect(err.message).toContain(message);
    expect(await s3.keys(BUCKETS.artifacts)).toEqual([]);
  });

  it('plans the instance type, count, volume and input mode a run asks for, and the defaults otherwise', async () => {
    const asked = await planTrainingRun(
      { input: { ...input, instance_type: 'ml.m5.xlarge', instance_count: 2, volume_size_gb: 100 }, execution: 'big' },
      { ...deps(), trainingLimits: limits },
    );
    // Two instances: each reads its share of the training parts (ShardedByS3Key), not all of them.
    expect(asked.plan.resources).toEqual({
      instance_type: 'ml.m5.xlarge',
      instance_count: 2,
      volume_size_gb: 100,
      input_mode: 'File',
      train_distribution: 'ShardedByS3Key',
    });
    const unasked = await planTrainingRun({ input, execution: 'small' }, { ...deps(), trainingLimits: limits });
    expect(unasked.plan.resources).toEqual({
      instance_type: 'ml.m5.large',
      instance_count: 1,
      volume_size_gb: 10,
      input_mode: 'File',
      train_distribution: 'FullyReplicated',
    });
    const fast = await planTrainingRun(
      { input: { ...input, input_mode: 'FastFile' }, execution: 'fast' },
      { ...deps(), trainingLimits: { ...limits, inputModes: ['File', 'FastFile'] } },
    );
    expect(fast.plan.resources).toMatchObject({ input_mode: 'FastFile' });
  });

  it('carries the retraining trigger into the plan (null for a run nothing triggered)', async () => {
    const trigger = { reason: 'DriftDetected', report_uri: 's3://curated/drift/wine-quality/report.json', event_id: 'e-1' };
    const { plan } = await planTrainingRun({ input: { ...input, trigger }, execution: 'triggered' }, deps());
    expect(plan.trigger).toEqual(trigger);
    const plain = await planTrainingRun({ input, execution: 'plain' }, deps());
    expect(plain.plan.trigger).toBeNull();
  });

  it('accepts the table by its s3:// location', async () => {
    const { plan } = await planTrainingRun(
      { input: { ...input, dataset: WINE_TABLE.location }, execution: 'by-prefix' },
      deps(),
    );
    expect(plan.dataset.table).toBe('winequality_red_raw');
  });
});

describe('trainingJobName', () => {
  it('keeps a short execution name and shortens a long one with a hash', () => {
    // `_` is not allowed in a job name: it is replaced, and the hash keeps abc_1 and abc-1 apart.
    expect(trainingJobName('abc_1')).toMatch(/^train-abc-1-[0-9a-f]{8}$/);
    expect(trainingJobName('abc_1')).not.toBe(trainingJobName('abc-1'));
    const long = 'x'.repeat(80);
    const name = trainingJobName(long);
    expect(name).toMatch(/^train-x+-[0-9a-f]{8}$/);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(trainingJobName(`${long.slice(1)}y`)).not.toBe(name);
    expect(trainingJobName('run-1')).toBe('train-run-1');
  });
});

describe('The data version as an object in the lake (issue 19)', () => {
  it('keeps the state small with 2,100 input objects: the list is written once, the plan names it', async () => {
    // prepare: 2,100 objects of one wine row each
    const [header, ...rows] = csv.trim().split('\n');
    const objects: Record<string, string> = {};
    for (let i = 0; i < 2100; i++) {
      objects[`${WINE_RAW_PREFIX}part-${String(i).padStart(5, '0')}.csv`] = `${header}\n${rows[i % rows.length]}\n`;
    }
    await putDataset(objects);
    // act
    const { plan } = await planTrainingRun({ input, execution: 'many' }, deps());
    // assess: the plan (what "Validate data" puts in the state) is a few KB, the list is not in it
    const stateBytes = Buffer.byteLength(JSON.stringify(plan));
    expect(stateBytes).toBeLessThan(16 * 1024);
    expect(JSON.stringify(plan)).not.toContain('part-00001.csv');
    expect(plan.data_version.objects).toBe(2100);
    expect(plan.data_version_json.length).toBeLessThanOrEqual(MAX_ENVIRONMENT_VALUE);
    const version = await readDataVersion(s3, plan.data_version);
    expect(version.objects).toHaveLength(2100);
    expect(version.objects.every((o) => o.version_id && o.etag)).toBe(true);
    // The 2,100 objects stay: afterAll removes the state dir with them, which costs no 2,100 DELETEs
    // (every describe above resets the dataset in its beforeEach, as one added below must).
  }, 300_000);
});
