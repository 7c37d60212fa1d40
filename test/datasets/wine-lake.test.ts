/**
 * The example lake builder (labels CSV, `wine_features` Parquet read back with DuckDB) and
 * create-only seeding through the S3 API of the local S3 engine.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildWineLake,
  describeSeed,
  s3CreateObject,
  seedWineLake,
  wineFeaturesSeedKey,
  WINE_FEATURES_SPEC,
  type WineLake,
} from '../../lib/datasets/wine-lake';
import { WINE_COLUMNS, WINE_CSV_PATH, WINE_LABELS_KEY, WINE_RAW_KEY } from '../../lib/datasets/wine';
import { FEATURE_STORE_PREFIX } from '../../lib/features/definitions';
import { duckTypeOf } from '../../lib/local/athena/catalog';
import { type S3Server, S3Store, startS3Server } from '../../lib/local/s3';

const NOW = new Date('2024-05-01T12:34:56.789Z');
const AT = '2024-05-01 12:34:56.000';
/** The bundled CSV's data rows as numbers, in file order. */
const CSV_ROWS = readFileSync(WINE_CSV_PATH, 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((line) => line.split(';').map(Number));

let dir: string;
let lake: WineLake;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mlops-wine-lake-test-'));
  lake = await buildWineLake(NOW);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readParquet(bytes: Uint8Array) {
  const file = join(dir, 'read-back.parquet');
  await writeFile(file, bytes);
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const rows = async (sql: string) => (await conn.runAndReadAll(sql)).getRowObjectsJson();
    return {
      schema: await rows(`DESCRIBE SELECT * FROM read_parquet('${file}')`),
      count: await rows(`SELECT count(*) AS n, min(wine_id) AS lo, max(wine_id) AS hi FROM read_parquet('${file}')`),
      first: (await rows(`SELECT * FROM read_parquet('${file}') WHERE wine_id = 1`))[0]!,
      times: await rows(
        `SELECT DISTINCT CAST(event_timestamp AS VARCHAR) AS ev, CAST(created AS VARCHAR) AS cr FROM read_parquet('${file}')`,
      ),
    };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

describe('buildWineLake', () => {
  it('keeps the raw CSV byte for byte', () => {
    expect(Buffer.compare(Buffer.from(lake.rawCsv), readFileSync(WINE_CSV_PATH))).toBe(0);
  });

  it('labels every data row: wine_id 1..1599 with its quality, at now truncated to the second', () => {
    const [header, ...rows] = lake.labelsCsv.trimEnd().split('\n');
    expect(header).toBe('wine_id,event_timestamp,quality');
    expect(rows).toHaveLength(1599);
    expect(lake.at.toISOString()).toBe('2024-05-01T12:34:56.000Z');
    rows.forEach((row, i) => {
      const [id, at, quality] = row.split(',');
      expect(Number(id)).toBe(i + 1);
      expect(at).toBe(AT);
      expect(Number(quality)).toBe(CSV_ROWS[i]!.at(-1));
    });
  });

  it('writes wine_features Parquet with exactly the Glue columns and types, one row per wine', async () => {
    const back = await readParquet(lake.featuresParquet);
    expect(back.schema.map((c) => [c['column_name'], c['column_type']])).toEqual(
      WINE_FEATURES_SPEC.columns.map((c) => [c.name, duckTypeOf(c.type)]),
    );
    expect(back.count).toEqual([{ n: '1599', lo: '1', hi: '1599' }]);
    expect(back.times).toEqual([{ ev: '2024-05-01 12:34:56', cr: '2024-05-01 12:34:56' }]);
  });

  it('carries CSV row 1 as wine_id 1, each measurement as its float32 rounding', async () => {
    const { first } = await readParquet(lake.featuresParquet);
    const features = WINE_COLUMNS.filter((c) => c.name !== 'quality');
    expect(features.map((c) => Math.fround(Number(first[c.name])))).toEqual(
      features.map((_, i) => Math.fround(CSV_ROWS[0]![i]!)),
    );
  });

  it('puts the Parquet under the wine_features table location the feature store registers', () => {
    expect(WINE_FEATURES_SPEC.location).toBe(`${FEATURE_STORE_PREFIX}/wine_features/`);
    // In the dt= partition of the seed instant, which the table projects.
    expect(wineFeaturesSeedKey(new Date('2024-05-01T23:59:59.750Z'))).toBe(
      `${WINE_FEATURES_SPEC.location}dt=2024-05-01/wine-features-seed.parquet`,
    );
  });

  it('fails if now is not a valid date', async () => {
    await expect(buildWineLake(new Date(Number.NaN))).rejects.toThrow(/now must be a valid date/);
  });
});

describe('seedWineLake through the S3 API', () => {
  let server: S3Server;
  let s3: S3Client;

  beforeAll(async () => {
    server = await startS3Server({ store: await S3Store.open(join(dir, 'state'), ['raw', 'curated']) });
    s3 = new S3Client({
      endpoint: server.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.close();
  });

  it('creates the three objects, then reports them present without rewriting them', async () => {
    // act
    const first = await seedWineLake(s3CreateObject(s3), { rawBucket: 'raw', curatedBucket: 'curated', now: NOW });
    const second = await seedWineLake(s3CreateObject(s3), {
      rawBucket: 'raw',
      curatedBucket: 'curated',
      now: new Date(NOW.getTime() + 86_400_000),
    });
    // assess
    expect(first.map((o) => [o.uri, o.outcome])).toEqual([
      [`s3://raw/${WINE_RAW_KEY}`, 'created'],
      [`s3://raw/${WINE_LABELS_KEY}`, 'created'],
      [`s3://curated/${wineFeaturesSeedKey(NOW)}`, 'created'],
    ]);
    expect(first.every((o) => typeof o.versionId === 'string')).toBe(true);
    expect(second.map((o) => o.outcome)).toEqual(['present', 'present', 'present']);
    // A day later the seed would go to another dt= partition: the first day's seed counts.
    expect(second[2]!.key).toBe(wineFeaturesSeedKey(NOW));
    expect(describeSeed(first)).toBe('created winequality-red.csv, wine-labels.csv, wine-features-seed.parquet');
    expect(describeSeed(second)).toBe('already present: winequality-red.csv, wine-labels.csv, wine-features-seed.parquet');
    const labels = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: WINE_LABELS_KEY }));
    expect(labels.ContentType).toBe('text/csv');
    expect(await labels.Body!.transformToString()).toBe(lake.labelsCsv); // the first run's, not the second's
  });

  it('builds no object body when every key is present, and the create-only PUT refuses a key a HEAD missed', async () => {
    // prepare: the first test seeded all three
    const built: string[] = [];
    const create = s3CreateObject(s3);
    const counting: typeof create = (o) =>
      create({
        ...o,
        body: () => {
          built.push(o.key);
          return o.body();
        },
      });
    // act
    const again = await seedWineLake(counting, { rawBucket: 'raw', curatedBucket: 'curated', now: NOW });
    // a HEAD that missed a concurrent writer: the create-only PUT still refuses the taken key
    const blind = {
      send: (command: unknown) =>
        command instanceof HeadObjectCommand
          ? Promise.reject(Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }))
          : s3.send(command as GetObjectCommand),
    } as unknown as S3Client;
    const raced = await s3CreateObject(blind)({
      bucket: 'raw',
      key: WINE_LABELS_KEY,
      body: async () => 'x\n',
      contentType: 'text/csv',
    });
    // assess
    expect(again.map((o) => o.outcome)).toEqual(['present', 'present', 'present']);
    expect(built).toEqual([]);
    expect(raced).toEqual({ created: false });
    const labels = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: WINE_LABELS_KEY }));
    expect(await labels.Body!.transformToString()).toBe(lake.labelsCsv);
  });

  it('fails with the S3 error when a bucket does not exist', async () => {
    await expect(
      seedWineLake(s3CreateObject(s3), { rawBucket: 'no-such-bucket', curatedBucket: 'curated', now: NOW }),
    ).rejects.toMatchObject({ name: 'NoSuchBucket' });
  });
});
