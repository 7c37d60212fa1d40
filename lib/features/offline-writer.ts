/**
 * The `OfflineWriter` port: appends pushed rows to a push source's batch table in the lake as one
 * new JSON-lines object per push (the lake is append-only; Athena reads every object under the
 * table's location). Two adapters share the key layout and encoding:
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
import type { LakeTable } from './types';

/** One row for the lake: column → JSON value. */
export type LakeRow = Readonly<Record<string, unknown>>;

/** Where an append landed. */
export interface AppendResult {
  /** `s3://bucket/key` or the file path. */
  readonly uri: string;
  readonly rows: number;
}

/** Appends rows to a lake table. */
export interface OfflineWriter {
  append(table: LakeTable, rows: readonly LakeRow[]): Promise<AppendResult>;
}

/**
 * The key of a new object under a table: time-ordered name, unique suffix so concurrent pushes
 * never overwrite each other.
 *
 * @example
 * appendKey('features', { location: 'wine_features_push', ... }, new Date(0));
 * // 'features/wine_features_push/19700101T000000000Z-<uuid>.json'
 */
export function appendKey(prefix: string, table: LakeTable, at: Date, id = randomUUID()): string {
  if (table.format !== 'json') {
    throw new Error(
      `offline appends must go to a 'json' table, but ${table.database}.${table.table} is '${table.format}'`,
    );
  }
  const stamp = at.toISOString().replace(/[-:.]/g, '');
  const base = prefix.replace(/^\/+|\/+$/g, '');
  return `${base ? `${base}/` : ''}${table.location}/${stamp}-${id}.json`;
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
    const key = appendKey(this.props.prefix ?? '', table, this.props.now?.() ?? new Date());
    await this.props.objects.put(this.props.bucket, key, encodeJsonLines(rows), 'application/x-ndjson');
    return { uri: `s3://${this.props.bucket}/${key}`, rows: rows.length };
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
    const key = appendKey(this.props.prefix ?? '', table, this.props.now?.() ?? new Date());
    const file = join(this.props.root, ...key.split('/'));
    await mkdir(dirname(file), { recursive: true });
    // 'wx': never replace an existing object; the uuid makes a clash a bug worth failing on.
    await writeFile(file, encodeJsonLines(rows), { flag: 'wx' });
    return { uri: file, rows: rows.length };
  }
}
