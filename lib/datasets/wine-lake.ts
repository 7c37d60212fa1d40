/**
 * The example data's lake forms, and seeding them into a lake: the raw CSV as uploaded, the labels
 * table (`wine_labels`, CSV in the raw zone) and the feature store's batch table (`wine_features`,
 * Parquet in the curated zone), all three built from the bundled CSV and one instant.
 *
 * `seedWineLake` writes create-only (`If-None-Match: *`), so seeding twice, or seeding a lake
 * that already holds newer data under those keys, never replaces anything. The same code seeds
 * the local platform (`mlops up`, `mlops seed`) and a deployed environment (`mlops seed
 * --raw-bucket … --curated-bucket …`): only the S3 client differs.
 *
 * @example
 * const s3 = new S3Client({ region: 'eu-west-1' });
 * const outcomes = await seedWineLake(s3CreateObject(s3), {
 *   rawBucket: 'mlops-staging-datalake-raw…',
 *   curatedBucket: 'mlops-staging-datalake-curated…',
 *   now: new Date(),
 * });
 * outcomes.map((o) => `${o.outcome} ${o.uri}`);
 * // ['created s3://…/datasets/winequality-red/winequality-red.csv', …]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import {
  DAY_PARTITION,
  dayOf,
  FEATURE_STORE_PREFIX,
  joinKeysOf,
  type OfflineTableSpec,
  offlineTableSpecs,
} from '../features/definitions';
import { formatLakeTimestamp } from '../features/values';
import { wineFeatures, wineRepo } from '../features/wine';
import { duckTypeOf, ident } from '../local/athena/catalog';
import { parseCsv } from '../trainer/csv';
import {
  WINE_COLUMNS,
  WINE_CSV_PATH,
  WINE_LABEL_COLUMNS,
  WINE_LABELS_KEY,
  WINE_RAW_KEY,
  WINE_TARGET,
} from './wine';

/** The feature store's batch table of the wine features, as the stack registers it in Glue. */
export const WINE_FEATURES_SPEC: OfflineTableSpec = (() => {
  const spec = offlineTableSpecs(wineRepo, FEATURE_STORE_PREFIX).find(
    (t) => t.table === wineFeatures.source.table,
  );
  if (!spec) throw new Error(`the wine repo has no offline table ${wineFeatures.source.table}`);
  return spec;
})();

/** The seeded Parquet's file name, in the `dt=` partition of its rows' day. */
export const WINE_FEATURES_SEED_NAME = 'wine-features-seed.parquet';

/**
 * The seeded Parquet's key in the curated bucket: in the `wine_features` table's `dt=<day>/`
 * partition of the seed instant (every row carries it as event time), which the table projects.
 *
 * @example
 * wineFeaturesSeedKey(new Date('2024-05-01T12:00:00Z')); // 'features/wine_features/dt=2024-05-01/wine-features-seed.parquet'
 */
export const wineFeaturesSeedKey = (at: Date): string =>
  `${WINE_FEATURES_SPEC.location}${DAY_PARTITION}=${dayOf(at.getTime())}/${WINE_FEATURES_SEED_NAME}`;

/** The three objects of the example lake, ready to upload. */
export interface WineLake {
  /** The instant every row carries as event (and created) time: `now` truncated to whole seconds. */
  readonly at: Date;
  /** The bundled CSV, byte for byte. */
  readonly rawCsv: Uint8Array;
  /** `wine_id,event_timestamp,quality`, one row per wine. */
  readonly labelsCsv: string;
  /** The `wine_features` table's columns, in Glue order, one row per wine. */
  readonly featuresParquet: Uint8Array;
}

/**
 * Builds the example lake from the bundled CSV: wine `n` is data row `n` of the file (1-based),
 * labelled with its quality and carrying its 11 measurements, all at `now` (whole seconds, so the
 * CSV and the Parquet hold the same instant whatever precision a reader keeps).
 *
 * @example
 * const lake = await buildWineLake(new Date('2024-05-01T12:00:00.750Z'));
 * lake.labelsCsv.split('\n')[1]; // '1,2024-05-01 12:00:00.000,5'
 */
export async function buildWineLake(now: Date, csvPath: string = WINE_CSV_PATH): Promise<WineLake> {
  const atMs = Math.floor(now.getTime() / 1000) * 1000;
  if (!Number.isFinite(atMs)) throw new Error(`now must be a valid date, but ${String(now)} was provided`);
  const rawCsv = await readFile(csvPath);
  const table = parseCsv(rawCsv.toString('utf8'), { source: csvPath });
  const column = (header: string) => table.numeric.get(header)!;
  const quality = column(WINE_COLUMNS.find((c) => c.name === WINE_TARGET)!.header);
  const features = WINE_COLUMNS.filter((c) => c.name !== WINE_TARGET).map((c) => ({
    name: c.name,
    values: column(c.header),
  }));
  return {
    at: new Date(atMs),
    rawCsv,
    labelsCsv: labelsCsv(quality, atMs),
    featuresParquet: await featuresParquet(features, table.rows, atMs),
  };
}

function labelsCsv(quality: Float64Array, atMs: number): string {
  const at = formatLakeTimestamp(atMs);
  const lines = [WINE_LABEL_COLUMNS.map((c) => c.name).join(',')];
  quality.forEach((q, i) => lines.push(`${i + 1},${at},${q}`));
  return `${lines.join('\n')}\n`;
}

/**
 * Writes the rows with DuckDB: the measurements go in as doubles and are cast to each Glue column's
 * type on the way out, so the file's schema is exactly the table's (a `float` column is FLOAT).
 */
async function featuresParquet(
  features: readonly { name: string; values: Float64Array }[],
  rows: number,
  atMs: number,
): Promise<Uint8Array> {
  const [key] = joinKeysOf(wineRepo, wineFeatures).map((k) => k.name);
  const { timestampField, createdTimestampColumn } = wineFeatures.source;
  const at = `TIMESTAMP '${formatLakeTimestamp(atMs)}'`;
  const valueOf = (name: string): string => {
    if (name === key || features.some((f) => f.name === name)) return ident(name);
    if (name === timestampField || name === createdTimestampColumn) return at;
    throw new Error(`the wine lake has no values for column ${name} of ${WINE_FEATURES_SPEC.table}`);
  };
  const select = WINE_FEATURES_SPEC.columns
    .map((c) => `CAST(${valueOf(c.name)} AS ${duckTypeOf(c.type)}) AS ${ident(c.name)}`)
    .join(', ');

  const dir = await mkdtemp(join(tmpdir(), 'mlops-wine-lake-'));
  let db: DuckDBInstance | undefined;
  let conn: DuckDBConnection | undefined;
  try {
    db = await DuckDBInstance.create(':memory:');
    conn = await db.connect();
    const measurements = features.map((f) => `${ident(f.name)} DOUBLE`);
    await conn.run(`CREATE TABLE wine (${ident(key!)} BIGINT, ${measurements.join(', ')})`);
    const appender = await conn.createAppender('wine');
    for (let r = 0; r < rows; r++) {
      appender.appendBigInt(BigInt(r + 1));
      for (const f of features) appender.appendDouble(f.values[r]!);
      appender.endRow();
    }
    appender.closeSync();
    const file = join(dir, 'wine-features.parquet');
    await conn.run(
      `COPY (SELECT ${select} FROM wine ORDER BY ${ident(key!)}) TO '${file.replace(/'/g, "''")}' ` +
        '(FORMAT parquet, COMPRESSION snappy)',
    );
    return await readFile(file);
  } finally {
    conn?.closeSync();
    db?.closeSync();
    await rm(dir, { recursive: true, force: true });
  }
}

/** One object to write only if its key is free. */
export interface NewObject {
  readonly bucket: string;
  readonly key: string;
  /** Built only when the key is free: a restart finds the objects present and builds nothing. */
  readonly body: () => Promise<Uint8Array | string>;
  readonly contentType: string;
  /**
   * The object counts as present when any key under `prefix` ends in `/<name>` (a seed written on
   * another day sits in another `dt=` partition).
   * @default - present only when `key` itself holds an object
   */
  readonly presentAs?: { readonly prefix: string; readonly name: string };
}

/**
 * Writes an object unless its key already holds one: `created` with the version S3 assigned, or
 * `present` when S3 refused the write with 412 PreconditionFailed. Any other failure throws.
 */
export type CreateObject = (
  object: NewObject,
) => Promise<
  { readonly created: true; readonly versionId?: string } | { readonly created: false; readonly key?: string }
>;

/**
 * {@link CreateObject} over an S3 client: `HeadObject` first (a present object's body is never
 * built), then `PutObject` with `If-None-Match: *`, which still refuses a key taken in between.
 *
 * @example
 * const create = s3CreateObject(new S3Client({ region: 'eu-west-1' }));
 * await create({ bucket, key: 'a.csv', body: async () => 'x\n', contentType: 'text/csv' });
 * // { created: true, versionId: '…' }, then { created: false } for the same key
 */
export function s3CreateObject(client: S3Client): CreateObject {
  return async (o) => {
    if (o.presentAs) {
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: o.bucket, Prefix: o.presentAs.prefix, ContinuationToken: token }),
        );
        const found = page.Contents?.find((c) => c.Key?.endsWith(`/${o.presentAs!.name}`));
        if (found?.Key) return { created: false, key: found.Key };
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    }
    try {
      await client.send(new HeadObjectCommand({ Bucket: o.bucket, Key: o.key }));
      return { created: false };
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name !== 'NotFound' && e.$metadata?.httpStatusCode !== 404) throw err;
    }
    try {
      const res = await client.send(
        new PutObjectCommand({
          Bucket: o.bucket,
          Key: o.key,
          Body: await o.body(),
          ContentType: o.contentType,
          IfNoneMatch: '*',
        }),
      );
      return { created: true, ...(res.VersionId ? { versionId: res.VersionId } : {}) };
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412) return { created: false };
      throw err;
    }
  };
}

/** What seeding did with one object. */
export interface SeedOutcome {
  readonly uri: string;
  readonly bucket: string;
  readonly key: string;
  /** `present`: the key already held an object, which was left as it was. */
  readonly outcome: 'created' | 'present';
  readonly versionId?: string;
}

export interface SeedWineLakeOptions {
  /** The lake's raw bucket (`DataLake` stack output `RawBucketName`). */
  readonly rawBucket: string;
  /** The lake's curated bucket (`DataLake` stack output `CuratedBucketName`). */
  readonly curatedBucket: string;
  /** The rows' event and created time (truncated to whole seconds). */
  readonly now: Date;
}

/**
 * Seeds the example lake: the raw CSV (table `winequality_red_raw`), the labels (`wine_labels`)
 * and the feature store's batch table (`wine_features`), each create-only.
 *
 * @example
 * const outcomes = await seedWineLake(s3CreateObject(s3), { rawBucket, curatedBucket, now: new Date() });
 * outcomes.every((o) => o.outcome === 'present'); // true on a second run
 */
export async function seedWineLake(
  create: CreateObject,
  options: SeedWineLakeOptions,
): Promise<SeedOutcome[]> {
  // Built once, on the first object that is missing; not at all when every object is present.
  let built: Promise<WineLake> | undefined;
  const lake = () => (built ??= buildWineLake(options.now));
  const objects: NewObject[] = [
    {
      bucket: options.rawBucket,
      key: WINE_RAW_KEY,
      body: async () => (await lake()).rawCsv,
      contentType: 'text/csv',
    },
    {
      bucket: options.rawBucket,
      key: WINE_LABELS_KEY,
      body: async () => (await lake()).labelsCsv,
      contentType: 'text/csv',
    },
    {
      bucket: options.curatedBucket,
      key: wineFeaturesSeedKey(new Date(Math.floor(options.now.getTime() / 1000) * 1000)),
      body: async () => (await lake()).featuresParquet,
      contentType: 'application/vnd.apache.parquet',
      presentAs: { prefix: WINE_FEATURES_SPEC.location, name: WINE_FEATURES_SEED_NAME },
    },
  ];
  const outcomes: SeedOutcome[] = [];
  for (const o of objects) {
    const res = await create(o);
    const key = (!res.created && res.key) || o.key;
    outcomes.push({
      uri: `s3://${o.bucket}/${key}`,
      bucket: o.bucket,
      key,
      outcome: res.created ? 'created' : 'present',
      ...(res.created && res.versionId ? { versionId: res.versionId } : {}),
    });
  }
  return outcomes;
}

/**
 * One line for a log: which objects were created and which were already there, by file name.
 *
 * @example
 * describeSeed(outcomes); // 'created winequality-red.csv, wine-labels.csv, wine-features-seed.parquet'
 */
export function describeSeed(outcomes: readonly SeedOutcome[]): string {
  const names = (which: SeedOutcome['outcome']) =>
    outcomes.filter((o) => o.outcome === which).map((o) => o.key.split('/').at(-1));
  const created = names('created');
  const present = names('present');
  return [
    ...(created.length > 0 ? [`created ${created.join(', ')}`] : []),
    ...(present.length > 0 ? [`already present: ${present.join(', ')}`] : []),
  ].join('; ');
}
