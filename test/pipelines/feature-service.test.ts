/**
 * Training from a feature service: "Validate data" plans a run whose features step is the feature
 * store's point-in-time join onto a labels table; the planned SQL runs on the local Athena engine
 * (DuckDB) over Parquet feature rows and CSV labels in the local S3 engine, with a leakage trap and
 * rows outside the TTL; "Stage training data" counts what is left against `min_rows`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WINE_LABEL_COLUMNS } from '../../lib/datasets/wine';
import { offlineTableSpecs } from '../../lib/features/definitions';
import { formatLakeTimestamp } from '../../lib/features/values';
import { WINE_FEATURE_NAMES, wineFeatures, wineRepo } from '../../lib/features/wine';
import { AthenaEngine, glueTableFromInput } from '../../lib/local/athena';
import type { LakeTable } from '../../lib/pipelines/catalog';
import { DataValidationError, PipelineInputError } from '../../lib/pipelines/errors';
import { stageTrainingData } from '../../lib/pipelines/stage-data';
import { planTrainingRun } from '../../lib/pipelines/training-plan';
import { attemptLocation, unloadAt } from '../../lib/shared/unload';

/** The first attempt's folder, as the Task names it (lib/shared/unload.ts). */
const A0 = 'attempt-0-0';
import { listParts, numericBlocks, partRowGroups } from '../../lib/pipelines/parquet-parts';
import {
  BUCKETS,
  CHECK_QUERY,
  engineAggregate,
  failure,
  type LocalS3,
  readDataVersion,
  runQuery,
  startLocalS3,
  textTwinGlueTable,
  WINE_TABLE,
} from './helpers';

const DATABASE = 'mlops_test';
const STORE = `s3://${BUCKETS.curated}/features/`;
const LABELS_KEY = 'datasets/labels/labels.csv';
const LABELS: LakeTable = {
  name: 'wine_labels',
  location: `s3://${BUCKETS.raw}/datasets/labels/`,
  format: 'csv',
  delimiter: ',',
  skipHeader: 1,
  columns: WINE_LABEL_COLUMNS.map((c) => ({ name: c.name, type: c.type })),
};
const SPECS = offlineTableSpecs(wineRepo, 'features');
const BATCH = SPECS.find((s) => s.table === wineFeatures.source.table)!;
const PUSH = SPECS.find((s) => s.format === 'json')!;

const T0 = Date.parse('2026-06-01T12:00:00Z');
const DAY = 86_400_000;
const TTL = wineFeatures.ttlSeconds * 1000;
/** Wines with features a day before their label. */
const GOOD = 60;
/** Every feature of the trap rows, one second after the labels: must never reach a training row. */
const TRAP = 1e6;

let s3: LocalS3;
let athena: AthenaEngine;
let scratch: string;

/** A feature row's values for wine i: quality follows alcohol, the other features vary with i. */
const featureValues = (i: number) => WINE_FEATURE_NAMES.map((_, f) => (f === 10 ? 8 + (i % 7) : i + f / 10));

async function parquet(rows: { id: number; at: number; values: number[] }[]): Promise<Buffer> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const columns = BATCH.columns.map((col) => `"${col.name}" ${col.type === 'bigint' ? 'BIGINT' : col.type === 'float' ? 'FLOAT' : 'TIMESTAMP'}`);
  await c.run(`CREATE TABLE t (${columns.join(', ')})`);
  for (const r of rows) {
    const ts = `TIMESTAMP '${formatLakeTimestamp(r.at)}'`;
    await c.run(`INSERT INTO t VALUES (${r.id}, ${r.values.join(', ')}, ${ts}, ${ts})`);
  }
  const file = join(scratch, `f-${rows.length}.parquet`);
  await c.run(`COPY t TO '${file}' (FORMAT PARQUET)`);
  c.closeSync();
  db.closeSync();
  return readFile(file);
}

function labelsCsv(rows: [number, number, number][]): string {
  return `wine_id,event_timestamp,quality\n${rows.map(([id, at, q]) => `${id},${formatLakeTimestamp(at)},${q}`).join('\n')}\n`;
}

/** 60 wines with features a day before the label, one whose features are older than the TTL, one with none. */
const LABEL_ROWS: [number, number, number][] = [
  ...Array.from({ length: GOOD }, (_, k) => [k + 1, T0, 3 + ((k + 1) % 7)] as [number, number, number]),
  [61, T0, 5],
  [999, T0, 4],
];

async function clear(bucket: string) {
  for (const key of await s3.keys(bucket))
    await s3.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

beforeAll(async () => {
  s3 = await startLocalS3();
  scratch = await mkdtemp(join(tmpdir(), 'mlops-fs-training-'));
  const rows = [
    ...Array.from({ length: GOOD }, (_, k) => ({ id: k + 1, at: T0 - DAY, values: featureValues(k + 1) })),
    ...Array.from({ length: GOOD }, (_, k) => ({
      id: k + 1,
      at: T0 + 1000,
      values: WINE_FEATURE_NAMES.map(() => TRAP),
    })),
    { id: 61, at: T0 - TTL - 1000, values: featureValues(61) },
  ];
  await s3.objects.put(BUCKETS.curated, `${BATCH.location}seed.parquet`, await parquet(rows), 'application/vnd.apache.parquet');
  const glue = (spec: { table: string; location: string; columns: readonly { name: string; type: string }[] }, kind: 'parquet' | 'json' | 'csv', bucket: string) =>
    glueTableFromInput(DATABASE, {
      Name: spec.table,
      Parameters: kind === 'csv' ? { classification: 'csv', 'skip.header.line.count': '1' } : { classification: kind },
      StorageDescriptor: {
        Location: `s3://${bucket}/${spec.location}`,
        Columns: spec.columns.map((c) => ({ Name: c.name, Type: c.type })),
        InputFormat:
          kind === 'parquet'
            ? 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'
            : 'org.apache.hadoop.mapred.TextInputFormat',
        SerdeInfo: {
          SerializationLibrary:
            kind === 'parquet'
              ? 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
              : kind === 'json'
                ? 'org.openx.data.jsonserde.JsonSerDe'
                : 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
          Parameters: kind === 'csv' ? { 'field.delim': ',' } : {},
        },
      },
    });
  athena = await AthenaEngine.start({
    stateDir: s3.stateDir,
    catalog: {
      databases: [DATABASE],
      tables: [
        glue(BATCH, 'parquet', BUCKETS.curated),
        glue(PUSH, 'json', BUCKETS.curated),
        glue({ table: LABELS.name, location: 'datasets/labels/', columns: LABELS.columns }, 'csv', BUCKETS.raw),
        textTwinGlueTable(DATABASE, WINE_TABLE),
      ],
      workGroups: [{ name: 'wg', outputLocation: `s3://${BUCKETS.results}/results/`, enforce: true }],
    },
  });
});
afterAll(async () => {
  athena?.close();
  await s3?.close();
  await rm(scratch, { recursive: true, force: true });
});

const deps = () => ({
  objects: s3.objects,
  tables: [WINE_TABLE, LABELS],
  database: DATABASE,
  readableBuckets: [BUCKETS.raw],
  artifactsBucket: BUCKETS.artifacts,
  featuresLocation: STORE,
  featureStore: { repo: wineRepo, location: STORE },
  now: () => new Date('2026-11-02T00:00:00Z'),
  aggregate: engineAggregate(athena, DATABASE),
});
const input = { feature_service: 'wine_quality_v1', labels: 'wine_labels', target: 'quality' };

const run = (sql: string) => runQuery(athena, sql, DATABASE);



describe('training from a feature service', () => {
  beforeEach(async () => {
    await clear(BUCKETS.raw);
    await clear(BUCKETS.artifacts);
    await s3.objects.put(BUCKETS.raw, LABELS_KEY, labelsCsv(LABEL_ROWS), 'text/csv');
  });

  it('plans the point-in-time join, records label and feature object versions, and names the service', async () => {
    // prepare
    const labels = await s3.objects.head(BUCKETS.raw, LABELS_KEY);
    const features = await s3.objects.head(BUCKETS.curated, `${BATCH.location}seed.parquet`);
    // act
    const { plan, profile } = await planTrainingRun({ input, execution: 'fs-1' }, deps());
    // assess
    expect(profile.rows).toBe(GOOD + 2);
    expect(plan.model_name).toBe('wine-quality-v1');
    expect(plan.features).toEqual(WINE_FEATURE_NAMES);
    expect(plan.dataset).toEqual({
      table: 'wine_labels',
      database: DATABASE,
      location: LABELS.location,
      feature_service: 'wine_quality_v1',
    });
    expect(plan.data_version).toMatchObject({ uri: plan.locations.data_version, objects: 2 });
    expect(await readDataVersion(s3, plan.data_version)).toEqual({
      source: LABELS.location,
      objects: [{ key: LABELS_KEY, version_id: labels.versionId, etag: expect.stringMatching(/^"/) }],
      features: [
        {
          source: `s3://${BUCKETS.curated}/${BATCH.location}`,
          objects: [{ key: `${BATCH.location}seed.parquet`, version_id: features.versionId, etag: expect.stringMatching(/^"/) }],
        },
        { source: `s3://${BUCKETS.curated}/${PUSH.location}`, objects: [] },
      ],
    });
    expect(features.versionId).toBeTruthy();
    expect(plan.check).toMatchObject({ min_rows: 50, rows: GOOD + 2, source: 'labelled events of wine_labels' });
    expect(plan.check.why).toContain('wine_quality_v1');
    expect(plan.locations.features).toBe(`${STORE}training-sets/wine_quality_v1/fs-1/`);
    expect(plan.queries.features.head).toContain(`"${DATABASE}"."wine_features"`);
    expect(plan.queries.features.head).toContain(`"${DATABASE}"."wine_features_push"`);
    expect(await s3.keys(BUCKETS.artifacts)).toEqual([
      'runs/wine-quality-v1/fs-1/data-version.json',
      'runs/wine-quality-v1/fs-1/profile.json',
    ]);
  });

  it('builds splits on the local Athena engine with no value from after a label and none past the TTL', async () => {
    // prepare
    const { plan } = await planTrainingRun({ input, execution: 'fs-2' }, deps());
    // act
    await run(unloadAt(plan.queries.features, A0));
    await run(unloadAt(plan.queries.train, A0));
    await run(unloadAt(plan.queries.holdout, A0));
    const staged = await stageTrainingData(
      {
        train: { unloaded: attemptLocation(plan.locations.splits.train, A0), channel: plan.locations.train },
        holdout: { unloaded: attemptLocation(plan.locations.splits.holdout, A0), channel: plan.locations.holdout },
        check: plan.check,
      },
      s3.objects,
    );
    // assess: 60 complete rows (61 is past the TTL, 999 has no features), 1 in 5 held out by the
    // hash of entity and event time: 17 here, 12 expected (within two standard deviations)
    expect(staged).toMatchObject({ train_rows: 43, holdout_rows: 17 });
    const columns = [...WINE_FEATURE_NAMES, 'quality'];
    const split = async (uri: string) => {
      const parts = await listParts(s3.objects, uri);
      const header = (await partRowGroups(s3.objects, parts).next()).value!.header;
      const values = columns.map(() => [] as number[]);
      for await (const b of numericBlocks(s3.objects, parts, columns)) b.values.forEach((v, j) => values[j]!.push(...v!));
      return { header, values };
    };
    const [trainSet, holdoutSet] = await Promise.all([split(staged.train), split(staged.holdout)]);
    expect(trainSet!.header).toEqual(columns);
    for (const set of [trainSet!, holdoutSet!]) expect(Math.max(...set.values.slice(0, -1).flat())).toBeLessThan(TRAP);
    // every training row carries the feature values of a day before its label
    const alcohol = trainSet!.values[10]!;
    const quality = trainSet!.values.at(-1)!;
    expect(alcohol).toHaveLength(43);
    for (let r = 0; r < alcohol.length; r++) expect(alcohol[r]! - quality[r]!).toBe(5);
    const curated = (await s3.keys(BUCKETS.curated)).filter((k) => k.startsWith('features/training-sets/'));
    expect(curated).toHaveLength(1);
    expect(curated[0]).toMatch(/^features\/training-sets\/wine_quality_v1\/fs-2\/.+\.parquet$/);
    const unloaded = await runQuery(
      athena,
      `SELECT count(*), count(DISTINCT wine_id), max(alcohol) FROM read_parquet('${attemptLocation(plan.locations.features, A0)}*.parquet')`,
      DATABASE,
      'wg',
      CHECK_QUERY,
    );
    const page = await athena.getQueryResults({ QueryExecutionId: unloaded.QueryExecutionId });
    expect(page.ResultSet.Rows[1]!.Data.map((d) => d.VarCharValue)).toEqual(['60', '60', '14.0']);
  });

  it('records the version of every offline push object, in key order', async () => {
    // prepare: 40 pushes for a wine no label names
    const row = (n: number) =>
      `${JSON.stringify({
        wine_id: 500,
        ...Object.fromEntries(WINE_FEATURE_NAMES.map((f) => [f, n])),
        event_timestamp: formatLakeTimestamp(T0 - DAY + n * 1000),
        created: formatLakeTimestamp(T0 - DAY + n * 1000),
      })}\n`;
    const keys = Array.from({ length: 40 }, (_, n) => `${PUSH.location}push-${String(n).padStart(3, '0')}.json`);
    const versions: (string | undefined)[] = [];
    for (const [n, key] of keys.entries()) versions.push((await s3.objects.put(BUCKETS.curated, key, row(n), 'application/json')).versionId);
    try {
      // act
      const { plan } = await planTrainingRun({ input, execution: 'fs-4' }, deps());
      // assess
      expect((await readDataVersion(s3, plan.data_version)).features![1]).toEqual({
        source: `s3://${BUCKETS.curated}/${PUSH.location}`,
        objects: keys.map((key, n) => ({ key, version_id: versions[n], etag: expect.stringMatching(/^"/) })),
      });
      // the trainer's environment names the record, its version and digest, not the list
      expect(JSON.parse(plan.data_version_json)).toEqual({
        source: `s3://${BUCKETS.artifacts}/`,
        objects: [
          {
            key: 'runs/wine-quality-v1/fs-4/data-version.json',
            version_id: plan.data_version.version_id,
            sha256: plan.data_version.sha256,
          },
        ],
      });
    } finally {
      for (const key of keys) await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKETS.curated, Key: key }));
    }
  });

  it('fails staging, naming the coverage, when fewer complete rows than min_rows remain', async () => {
    // prepare
    const { plan } = await planTrainingRun({ input: { ...input, min_rows: 61 }, execution: 'fs-3' }, deps());
    await run(unloadAt(plan.queries.train, A0));
    await run(unloadAt(plan.queries.holdout, A0));
    // act
    const err = await failure(
      stageTrainingData(
        {
          train: { unloaded: attemptLocation(plan.locations.splits.train, A0), channel: plan.locations.train },
          holdout: { unloaded: attemptLocation(plan.locations.splits.holdout, A0), channel: plan.locations.holdout },
          check: plan.check,
        },
        s3.objects,
      ),
    );
    // assess
    expect(err).toBeInstanceOf(DataValidationError);
    expect(err.message).toBe(
      '60 of the 62 labelled events of wine_labels are in the exported splits (the others have no value of some ' +
        "feature of wine_quality_v1 within its view's TTL before the event), but at least 61 are required (min_rows)",
    );
    expect((await s3.keys(BUCKETS.artifacts)).some((k) => k.includes('/data/'))).toBe(false);
  });
});

describe('training from a feature service rejects bad input without writing anything', () => {
  beforeEach(async () => {
    await clear(BUCKETS.raw);
    await clear(BUCKETS.artifacts);
    await s3.objects.put(BUCKETS.raw, LABELS_KEY, labelsCsv(LABEL_ROWS), 'text/csv');
  });

  const inputCases: [string, Record<string, unknown>, RegExp][] = [
    ['both sources', { ...input, dataset: 'winequality_red_raw' }, /either dataset or feature_service, not both/],
    ['no source', { target: 'quality' }, /dataset is required.*or name a feature_service/],
    ['a service without labels', { feature_service: 'wine_quality_v1', target: 'quality' }, /labels is required with feature_service/],
    ['labels without a service', { dataset: 'winequality_red_raw', labels: 'wine_labels', target: 'quality' }, /labels only applies with feature_service/],
    ['a timestamp column without a service', { dataset: 'winequality_red_raw', timestamp_column: 'ts', target: 'quality' }, /timestamp_column only applies/],
    ['a wrong-typed service', { ...input, feature_service: 7 }, /feature_service/],
    ['an empty service name', { ...input, feature_service: '' }, /feature_service must name a feature service/],
    ['an oversized service name', { ...input, feature_service: 'x'.repeat(10_000) }, /feature_service must name a feature service/],
    ['an unknown service', { ...input, feature_service: 'wine_quality_v9' }, /services are: wine_quality_v1/],
    ['labels that are SQL', { ...input, labels: 'wine_labels; DROP TABLE x' }, /labels must be a Glue table name/],
    ['unknown labels table', { ...input, labels: 'no_such_table' }, /tables are: winequality_red_raw, wine_labels/],
    ['a labels table without the event time', { ...input, timestamp_column: 'labelled_at' }, /lacks "labelled_at"/],
    ['a target not in the labels', { ...input, target: 'colour' }, /lacks "colour"/],
    ['a target that is a feature', { ...input, target: 'alcohol' }, /feature "alcohol" of wine_quality_v1 has the name of a labels column/],
    ['ranges on a feature', { ...input, ranges: { alcohol: { min: 8 } } }, /ranges may only name the target/],
  ];
  it.each(inputCases)('%s', async (_name, bad, message) => {
    const err = await failure(planTrainingRun({ input: bad, execution: 'bad-1' }, deps()));
    expect(err).toBeInstanceOf(PipelineInputError);
    expect(err.message).toMatch(message);
    expect(await s3.keys(BUCKETS.artifacts)).toEqual([]);
  });

  it("refuses a labels table whose join key does not have the entity's type, before reading it", async () => {
    const stringKeys = {
      ...LABELS,
      columns: LABELS.columns.map((c) => (c.name === 'wine_id' ? { ...c, type: 'string' } : c)),
    };
    const err = await failure(
      planTrainingRun({ input, execution: 'bad-4' }, { ...deps(), tables: [WINE_TABLE, stringKeys] }),
    );
    expect(err).toBeInstanceOf(PipelineInputError);
    expect(err.message).toBe(
      `join key "wine_id" (string) of labels table wine_labels does not have the entity's type`,
    );
    expect(await s3.keys(BUCKETS.artifacts)).toEqual([]);
  });

  it('refuses a feature service when the pipeline has no feature store', async () => {
    const { featureStore: _none, ...withoutStore } = deps();
    const err = await failure(planTrainingRun({ input, execution: 'bad-2' }, withoutStore));
    expect(err.message).toMatch(/has no feature store; name a dataset instead/);
  });

  const dataCases: [string, string, RegExp][] = [
    ['a bad event time', 'wine_id,event_timestamp,quality\n1,2026-02-30 00:00:00,5\n', /data row 1, column "event_timestamp": "2026-02-30 00:00:00" is not a timestamp the lake reads/],
    ['an ISO event time the lake would read as NULL', 'wine_id,event_timestamp,quality\n1,2026-01-01T00:00:00Z,5\n', /is not a timestamp the lake reads/],
    ['a missing target', 'wine_id,event_timestamp,quality\n1,2026-01-01 00:00:00,\n', /column "quality": empty value/],
    ['a non-numeric key', 'wine_id,event_timestamp,quality\nabc,2026-01-01 00:00:00,5\n', /column "wine_id": "abc" is not a number/],
    ['a fractional integer target', 'wine_id,event_timestamp,quality\n1,2026-01-01 00:00:00,5.5\n', /5.5 is not a whole number/],
    ['columns out of order', 'event_timestamp,wine_id,quality\n2026-01-01 00:00:00,1,5\n', /must be the table's, in order/],
    ['an empty object', '', /the object is empty/],
    ['too few labels', labelsCsv(LABEL_ROWS.slice(0, 10)), /has 10 rows, but at least 50 are required/],
  ];
  it.each(dataCases)('fails on %s', async (_name, body, message) => {
    await s3.objects.put(BUCKETS.raw, LABELS_KEY, body, 'text/csv');
    const err = await failure(planTrainingRun({ input, execution: 'bad-3' }, deps()));
    expect(err).toBeInstanceOf(DataValidationError);
    expect(err.message).toMatch(message);
    expect(await s3.keys(BUCKETS.artifacts)).toEqual([]);
  });
});
