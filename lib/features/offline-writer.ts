/**
 * The `OfflineWriter` port: appends pushed rows to a push source's batch table in the lake as one
 * new JSON-lines object per push and event day (the lake is append-only). Each object goes under
 * the `dt=YYYY-MM-DD/` partition of its rows' event day (UTC), which the Glue table projects, so a
 * query filtering on `dt` reads only those days. Two adapters share the key layout and encoding:
 *
 * - `S3OfflineWriter`: `s3://<bucket>/<prefix>/<location>/<object>` — the Lambda's, through the
 *   object-store port (`s3Objects` in lib/adapters/s3 implements it).
 * - `DirectoryOfflineWriter`: `<root>/<prefix>/<location>/<object>` — the local runtime's (its S3
 *   engine keeps one file per key under a directory, see lib/local/layout.ts) and the tests'.
 *
 * Timestamps are written as `YYYY-MM-DD HH:MM:SS.mmm` (UTC, zone-less) because that is the form
 * both Athena's JSON SerDe `timestamp` columns and `CAST(… AS TIMESTAMP)` in Trino and DuckDB read.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DAY_PARTITION, dayOf, FIRST_PROJECTED_DAY } from './definitions';
import type { LakeTable } from './types';
import { parseTimestamp } from './values';

/** One row for the lake: column → JSON value. */
export type LakeRow = Readonly<Record<string, unknown>>;

/** Where an append landed. */
export interface AppendResult {
  /** `s3://bucket/key` or the file path: the first object (the only one when every row has one event day). */
  readonly uri: string;
  /** Every object written, one per event day, in day order. */
  readonly uris: readonly string[];
  readonly rows: number;
}

/** Appends rows to a lake table. */
export interface OfflineWriter {
  append(table: LakeTable, rows: readonly LakeRow[]): Promise<AppendResult>;
}

/**
 * The key of a new object under a table's `dt=<day>/` partition: time-ordered name, unique suffix
 * so concurrent pushes never overwrite each other.
 *
 * @example
 * appendKey('features', { location: 'wine_features_push', ... }, '2024-05-01', new Date(0));
 * // 'features/wine_features_push/dt=2024-05-01/19700101T000000000Z-<uuid>.json'
 */
export function appendKey(prefix: string, table: LakeTable, day: string, at: Date, id = randomUUID()): string {
  if (table.format !== 'json') {
    throw new Error(
      `offline appends must go to a 'json' table, but ${table.database}.${table.table} is '${table.format}'`,
    );
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`day must be YYYY-MM-DD, but '${day}' was provided`);
  const stamp = at.toISOString().replace(/[-:.]/g, '');
  const base = prefix.replace(/^\/+|\/+$/g, '');
  return `${base ? `${base}/` : ''}${table.location}/${DAY_PARTITION}=${day}/${stamp}-${id}.json`;
}

/**
 * The rows of an append by event day (UTC) of the table's timestamp column, days in order.
 *
 * @throws Error for a row whose timestamp is missing, unreadable or before the first projected day.
 */
export function rowsByDay(table: LakeTable, rows: readonly LakeRow[]): Map<string, LakeRow[]> {
  const days = new Map<string, LakeRow[]>();
  rows.forEach((row, i) => {
    const ms = parseTimestamp(row[table.timestampField]);
    if (ms === undefined) {
      throw new Error(
        `row ${i + 1} of an append to ${table.table}: ${table.timestampField} ${JSON.stringify(row[table.timestampField])} is not a timestamp`,
      );
    }
    const day = dayOf(ms);
    if (day < FIRST_PROJECTED_DAY) {
      throw new Error(
        `row ${i + 1} of an append to ${table.table}: ${table.timestampField} is before ${FIRST_PROJECTED_DAY}, the table's first partition day`,
      );
    }
    const list = days.get(day) ?? [];
    list.push(row);
    days.set(day, list);
  });
  return new Map([...days].sort(([a], [b]) => (a < b ? -1 : 1)));
}

async function appendByDay(
  table: LakeTable,
  rows: readonly LakeRow[],
  write: (day: string, rows: readonly LakeRow[]) => Promise<string>,
): Promise<AppendResult> {
  const uris: string[] = [];
  for (const [day, part] of rowsByDay(table, rows)) uris.push(await write(day, part));
  return { uri: uris[0] ?? '', uris, rows: rows.length };
}

/** JSON lines: one object per row, newline-terminated. */
export function encodeJsonLines(rows: readonly LakeRow[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}

/** The object-store write an S3 append needs. */
export interface ObjectWriter {
  put(bucket: string, key: string, body: string, contentType: string): Promise<unknown>;
}

/**
 * Writes appends to S3.
 *
 * @example
 * const writer = new S3OfflineWriter({ objects: s3Objects(s3Client(env)), bucket: 'lake', prefix: 'features' });
 * await writer.append(winePush.batchSource, [{ wine_id: 1, alcohol: 9.4, event_timestamp: '2024-01-01 00:00:00.000' }]);
 */
export class S3OfflineWriter implements OfflineWriter {
  constructor(
    private readonly props: { objects: ObjectWriter; bucket: string; prefix?: string; now?: () => Date },
  ) {}

  async append(table: LakeTable, rows: readonly LakeRow[]): Promise<AppendResult> {
    const at = this.props.now?.() ?? new Date();
    return appendByDay(table, rows, async (day, part) => {
      const key = appendKey(this.props.prefix ?? '', table, day, at);
      await this.props.objects.put(this.props.bucket, key, encodeJsonLines(part), 'application/x-ndjson');
      return `s3://${this.props.bucket}/${key}`;
    });
  }
}

/**
 * Writes appends to a local directory (the local runtime's bucket directory).
 *
 * @example
 * const writer = new DirectoryOfflineWriter({ root: layout(stateDir).bucket('lake'), prefix: 'features' });
 */
export class DirectoryOfflineWriter implements OfflineWriter {
  constructor(private readonly props: { root: string; prefix?: string; now?: () => Date }) {}

  async append(table: LakeTable, rows: readonly LakeRow[]): Promise<AppendResult> {
    const at = this.props.now?.() ?? new Date();
    return appendByDay(table, rows, async (day, part) => {
      const key = appendKey(this.props.prefix ?? '', table, day, at);
      const file = join(this.props.root, ...key.split('/'));
      await mkdir(dirname(file), { recursive: true });
      // 'wx': never replace an existing object; the uuid makes a clash a bug worth failing on.
      await writeFile(file, encodeJsonLines(part), { flag: 'wx' });
      return file;
    });
  }
}
