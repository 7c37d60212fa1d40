/**
 * Point-in-time retrieval and materialization SQL, run in DuckDB (the kit's local Athena engine)
 * over the lake tables `offlineTableSpecs` describes: the batch table as Parquet, the push table as
 * the JSON lines the server's offline push wrote. Then the materialization result, as the JSON
 * Lines parts an UNLOAD writes (one gzipped, as Athena's are), goes through `materializeParts` into
 * dynalite and is served.
 */
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offlineTableSpecs } from '../../lib/features/definitions';
import { gzipSync } from 'node:zlib';
import { MaterializeDataError, materializeParts, type UnloadPart } from '../../lib/features/materialize';
import { DirectoryOfflineWriter } from '../../lib/features/offline-writer';
import { DynamoDbOnlineStore } from '../../lib/adapters/dynamodb/online-store';
import { materializationSql, pointInTimeJoinSql } from '../../lib/features/retrieval';
import { createFeatureServer } from '../../lib/features/serving';
import { formatLakeTimestamp } from '../../lib/features/values';
import { translateFunctions } from '../../lib/local/athena/sql';
import { WINE_FEATURE_NAMES, wineFeatures, wineRepo } from '../../lib/features/wine';
import { type LocalDynamo, removeScratchDirs, scratchDir, startDynalite } from './helpers';

const T0 = Date.parse('2024-06-01T12:00:00Z');
const S = 1000;
const DAY = 86_400 * S;
const TTL = wineFeatures.ttlSeconds * S;

const DUCKDB_TYPES: Record<string, string> = {
  bigint: 'BIGINT',
  int: 'INTEGER',
  float: 'FLOAT',
  double: 'DOUBLE',
  string: 'VARCHAR',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
};

/** Feature rows of the batch table: [wine_id, event time, created time, alcohol]. */
const BATCH: [number, number, number, number][] = [
  [1, T0 - 10 * DAY, T0 - 10 * DAY, 9.0],
  [1, T0 - 1 * DAY, T0 - 1 * DAY, 9.5],
  [1, T0 + 1 * S, T0 + 1 * S, 99], // the leakage trap: one second after wine 1's label
  [2, T0 - TTL - 1 * S, T0 - TTL, 8.0], // older than the TTL at the label's time
  [3, T0 - TTL, T0 - TTL, 11.0], // exactly at the TTL boundary: still valid
  [4, T0 - 2 * DAY, T0 - 2 * DAY + 5 * S, 12.5], // same event time twice: the later-created wins
  [4, T0 - 2 * DAY, T0 - 2 * DAY + 1 * S, 10.25],
  [5, T0 - 2 * DAY, T0 - 2 * DAY, 10.0], // superseded by an offline push an hour before the label
];

/** Labelled events: [wine_id, event time, quality]. */
const LABELS: [number, number, number][] = [
  [1, T0, 5],
  [1, T0 + 2 * S, 6], // after the trap row: now it is history and must be used
  [2, T0, 5],
  [3, T0, 7],
  [4, T0, 6],
  [5, T0, 4],
  [42, T0, 3], // no features at all
];

let db: DuckDBInstance;
let conn: DuckDBConnection;
let dynamo: LocalDynamo;
let lake: string;

// Athena SQL, run as the local Athena engine runs it (its function rewrites, then DuckDB).
const rowsOf = async (sql: string) => (await conn.runAndReadAll(translateFunctions(sql))).getRowObjectsJson();
const featureRow = (alcohol: number) => WINE_FEATURE_NAMES.map((f) => (f === 'alcohol' ? alcohol : 0.5));

beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:');
  conn = await db.connect();
  dynamo = await startDynalite();
  lake = await scratchDir('retrieval-lake');

  // The offline push goes through the server, so the JSON the test reads is what production writes.
  await dynamo.createOnlineTable('unused');
  const server = createFeatureServer({
    repo: wineRepo,
    store: new DynamoDbOnlineStore({ client: dynamo.doc, tableName: 'unused' }),
    offline: new DirectoryOfflineWriter({ root: lake, prefix: 'features' }),
  });
  await server.push({
    push_source_name: 'wine_push',
    to: 'offline',
    df: {
      wine_id: [5],
      event_timestamp: [new Date(T0 - 3600 * S).toISOString()],
      created: [new Date(T0 - 3600 * S).toISOString()],
      ...Object.fromEntries(WINE_FEATURE_NAMES.map((f, i) => [f, [featureRow(13.0)[i]]])),
    },
  });

  // Lake tables from the specs the CDK stack registers in Glue.
  await conn.run('CREATE SCHEMA features');
  for (const spec of offlineTableSpecs(wineRepo, 'features')) {
    const columns = spec.columns.map((c) => `${c.name} ${DUCKDB_TYPES[c.type]}`).join(', ');
    const dir = join(lake, ...spec.location.split('/'));
    if (spec.format === 'parquet') {
      await conn.run(`CREATE TABLE batch_rows (${columns})`);
      const values = BATCH.map(
        ([id, ev, cr, alcohol]) =>
          `(${id}, ${featureRow(alcohol).join(', ')}, TIMESTAMP '${formatLakeTimestamp(ev)}', TIMESTAMP '${formatLakeTimestamp(cr)}')`,
      );
      await conn.run(`INSERT INTO batch_rows VALUES ${values.join(', ')}`);
      await conn.run(`COPY batch_rows TO '${join(lake, 'batch.parquet')}' (FORMAT parquet)`);
      await conn.run(
        `CREATE VIEW features.${spec.table} AS SELECT * FROM read_parquet('${join(lake, 'batch.parquet')}')`,
      );
    } else {
      const typed = spec.columns.map((c) => `'${c.name}': '${DUCKDB_TYPES[c.type]}'`).join(', ');
      await conn.run(
        `CREATE VIEW features.${spec.table} AS SELECT * FROM read_json('${dir}/*/*.json', hive_partitioning = true, format = 'newline_delimited', columns = {${typed}})`,
      );
    }
  }
  await conn.run(
    'CREATE TABLE features.wine_labels (wine_id BIGINT, event_timestamp TIMESTAMP, quality INTEGER)',
  );
  await conn.run(
    `INSERT INTO features.wine_labels VALUES ${LABELS.map(([id, t, q]) => `(${id}, TIMESTAMP '${formatLakeTimestamp(t)}', ${q})`).join(', ')}`,
  );
});

afterAll(async () => {
  await removeScratchDirs();
  conn?.closeSync();
  await dynamo?.close();
});

describe('pointInTimeJoinSql', () => {
  const sql = () =>
    pointInTimeJoinSql({
      repo: wineRepo,
      events: {
        relation: '"features"."wine_labels"',
        timestampColumn: 'event_timestamp',
        columns: ['quality'],
      },
      featureService: 'wine_quality_v1',
    });

  it('takes, per event, the latest feature row at or before it and within the TTL', async () => {
    // act
    const rows = await rowsOf(sql());
    // assess
    const got = rows.map((r) => [Number(r['wine_id']), r['event_timestamp'], r['quality'], r['alcohol']]);
    expect(got).toEqual([
      [1, '2024-06-01 12:00:00', 5, 9.5], // not the trap row, one second later
      [2, '2024-06-01 12:00:00', 5, null], // only row is older than the TTL
      [3, '2024-06-01 12:00:00', 7, 11], // exactly at the TTL boundary
      [4, '2024-06-01 12:00:00', 6, 12.5], // later-created of two rows with the same event time
      [5, '2024-06-01 12:00:00', 4, 13], // the offline push beats the older batch row
      [42, '2024-06-01 12:00:00', 3, null],
      [1, '2024-06-01 12:00:02', 6, 99], // the trap row is history for this later event
    ]);
  });

  it('returns every event once, with the label and the 11 features as columns', async () => {
    const rows = await rowsOf(sql());
    expect(rows).toHaveLength(LABELS.length);
    expect(Object.keys(rows[0]!)).toEqual(['wine_id', 'event_timestamp', 'quality', ...WINE_FEATURE_NAMES]);
  });

  it('prefixes view names with fullFeatureNames and refuses unknown refs', async () => {
    const full = pointInTimeJoinSql({
      repo: wineRepo,
      events: { relation: '"features"."wine_labels"', timestampColumn: 'event_timestamp' },
      features: ['wine_features:alcohol'],
      fullFeatureNames: true,
    });
    expect(Object.keys((await rowsOf(full))[0]!)).toEqual([
      'wine_id',
      'event_timestamp',
      'wine_features__alcohol',
    ]);
    expect(() =>
      pointInTimeJoinSql({
        repo: wineRepo,
        events: { relation: 'x', timestampColumn: 't' },
        features: ['wine_features:nope'],
      }),
    ).toThrow(/wine_features:nope/);
  });

  it('stays in the Athena-portable subset', () => {
    const text =
      sql() +
      materializationSql({
        repo: wineRepo,
        featureView: 'wine_features',
        start: new Date(0),
        end: new Date(T0),
      });
    for (const banned of [
      /\bASOF\b/i,
      /date_parse/i,
      /approx_/i,
      /\bWITH\s*\(/i,
      /\bQUALIFY\b/i,
      /::/,
      /\bepoch\(/i,
    ]) {
      expect(text).not.toMatch(banned);
    }
  });
});

describe('materializationSql', () => {
  const materialize = (start: number, end: number) =>
    rowsOf(
      materializationSql({
        repo: wineRepo,
        featureView: 'wine_features',
        start: new Date(start),
        end: new Date(end),
      }),
    );

  it('takes the latest row per entity in [start, end), never one at or after end', async () => {
    // act
    const rows = await materialize(T0 - 5 * DAY, T0 + 1 * S);
    // assess: the trap row sits exactly at end (exclusive)
    const byId = Object.fromEntries(rows.map((r) => [Number(r['wine_id']), r['alcohol']]));
    expect(byId).toEqual({ 1: 9.5, 4: 12.5, 5: 13 });
  });

  it('drops rows already older than the TTL at end, even inside a wider window', async () => {
    const rows = await materialize(T0 - 2 * TTL, T0);
    const ids = rows.map((r) => Number(r['wine_id'])).sort((a, b) => a - b);
    expect(ids).toEqual([1, 3, 4, 5]);
  });

  it('refuses an empty window', () => {
    expect(() =>
      materializationSql({
        repo: wineRepo,
        featureView: 'wine_features',
        start: new Date(T0),
        end: new Date(T0),
      }),
    ).toThrow(/start must be before end/);
  });
});

/** DuckDB rows as the JSON Lines parts of an UNLOAD, `perPart` rows each; the first part gzipped, as Athena writes them. */
function asUnloadParts(rows: Record<string, unknown>[], perPart: number): UnloadPart[] {
  const parts: UnloadPart[] = [];
  for (let i = 0; i < Math.max(rows.length, 1); i += perPart) {
    const text = rows
      .slice(i, i + perPart)
      .map((r) => `${JSON.stringify(r)}\n`)
      .join('');
    const bytes = parts.length === 0 ? gzipSync(text) : Buffer.from(text);
    parts.push({
      key: `unload/part-${parts.length}`,
      chunks: (async function* () {
        // Split mid-line, as a stream delivers it.
        yield bytes.subarray(0, 7);
        yield bytes.subarray(7);
      })(),
    });
  }
  return parts;
}

const windowRows = async () =>
  (
    await conn.runAndReadAll(
      materializationSql({
        repo: wineRepo,
        featureView: 'wine_features',
        start: new Date(T0 - 5 * DAY),
        end: new Date(T0),
      }),
    )
  ).getRowObjectsJson() as Record<string, unknown>[];

describe('materializeParts', () => {
  it('streams the UNLOAD parts (gzip or plain) into the online store and the server serves them', async () => {
    // prepare
    await dynamo.createOnlineTable('materialized');
    const store = new DynamoDbOnlineStore({ client: dynamo.doc, tableName: 'materialized' });
    // act
    const result = await materializeParts({
      repo: wineRepo,
      featureView: 'wine_features',
      parts: asUnloadParts(await windowRows(), 2),
      store,
      batchRows: 2,
    });
    // assess
    expect(result).toEqual({ featureView: 'wine_features', parts: 2, rowsRead: 3, written: 3, skippedStale: 0 });
    const server = createFeatureServer({
      repo: wineRepo,
      store,
      offline: new DirectoryOfflineWriter({ root: lake }),
      now: () => T0,
    });
    const res = await server.getOnlineFeatures({
      features: ['wine_features:alcohol'],
      entities: { wine_id: [1, 4, 5, 2] },
    });
    expect(res.results[1]).toEqual({
      values: [9.5, 12.5, 13, null],
      statuses: ['PRESENT', 'PRESENT', 'PRESENT', 'NOT_FOUND'],
      event_timestamps: [
        '2024-05-31T12:00:00Z',
        '2024-05-30T12:00:00Z',
        '2024-06-01T11:00:00Z',
        '1970-01-01T00:00:00Z',
      ],
    });
  });

  it('fails if running the same window twice loses or downgrades a value (idempotent redo)', async () => {
    // prepare
    await dynamo.createOnlineTable('materialized_twice');
    const store = new DynamoDbOnlineStore({ client: dynamo.doc, tableName: 'materialized_twice' });
    const rows = await windowRows();
    const run = () => materializeParts({ repo: wineRepo, featureView: 'wine_features', parts: asUnloadParts(rows, 1000), store });
    // act
    await run();
    const second = await run();
    // assess: equal versions are rewritten (idempotent), none are skipped as stale or lost
    expect(second.rowsRead).toBe(3);
    expect(
      (await store.readMany(['wine_features#wine_id=1'])).get('wine_features#wine_id=1')?.features['alcohol'],
    ).toBe(9.5);
  });

  it('fails if an older row in a later part replaces a newer stored value', async () => {
    await dynamo.createOnlineTable('materialized_newer');
    const store = new DynamoDbOnlineStore({ client: dynamo.doc, tableName: 'materialized_newer' });
    const row = (alcohol: number, at: string) => ({
      wine_id: 7,
      ...Object.fromEntries(WINE_FEATURE_NAMES.map((f) => [f, f === 'alcohol' ? alcohol : 1])),
      event_timestamp: at,
    });
    // A worker with the newer row, then another with an older one (two runs' windows).
    await materializeParts({ repo: wineRepo, featureView: 'wine_features', parts: asUnloadParts([row(11, '2024-06-01 00:00:00')], 1), store });
    const older = await materializeParts({ repo: wineRepo, featureView: 'wine_features', parts: asUnloadParts([row(9, '2024-05-01 00:00:00')], 1), store });
    expect(older).toMatchObject({ written: 0, skippedStale: 1 });
    expect((await store.readMany(['wine_features#wine_id=7'])).get('wine_features#wine_id=7')?.features['alcohol']).toBe(11);
  });

  it.each([
    ['a wrong-typed join key', { wine_id: 'seven' }, /unload\/part-0 line 1 of wine_features, column wine_id: "seven" is not a safe integer/],
    ['a missing join key', { wine_id: undefined }, /line 1 of wine_features: join key wine_id is missing or null/],
    ['a bad event time', { event_timestamp: 'yesterday' }, /event_timestamp "yesterday" is not a timestamp/],
    ['a string feature', { alcohol: true }, /column alcohol: true is not a FLOAT value/],
  ])('stops on %s, naming part, line and column', async (_, change, message) => {
    const row = {
      wine_id: 1,
      ...Object.fromEntries(WINE_FEATURE_NAMES.map((f) => [f, 1])),
      event_timestamp: '2024-01-01 00:00:00.000',
      ...change,
    };
    const run = materializeParts({ repo: wineRepo, featureView: 'wine_features', parts: asUnloadParts([row], 1), store: { writeMany: async () => ({ written: 0, skippedStale: 0 }) } });
    await expect(run).rejects.toThrow(MaterializeDataError);
    await expect(
      materializeParts({ repo: wineRepo, featureView: 'wine_features', parts: asUnloadParts([row], 1), store: { writeMany: async () => ({ written: 0, skippedStale: 0 }) } }),
    ).rejects.toThrow(message);
  });

  it('stops on a line that is not JSON', async () => {
    const parts: UnloadPart[] = [{ key: 'unload/p', chunks: (async function* () { yield Buffer.from('\n{oops\n'); })() }];
    await expect(
      materializeParts({ repo: wineRepo, featureView: 'wine_features', parts, store: { writeMany: async () => ({ written: 0, skippedStale: 0 }) } }),
    ).rejects.toThrow(/unload\/p line 2 of wine_features is not JSON/);
  });
});
