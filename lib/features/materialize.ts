/**
 * The write half of materialization, run by each child of the machine's Distributed Map: streams
 * the UNLOAD parts of its batch (JSON Lines, gzip or plain, as Athena and the local engine write
 * them), turns each row into an online record and writes them with `writeMany` in batches of
 * `batchRows` — BatchWriteItem of 25, unprocessed items retried with backoff by the store. Memory
 * holds one batch, whatever the part's size; nothing pages through `GetQueryResults`.
 *
 * Newest value per entity, across parts and workers: the UNLOAD is already reduced to one row per
 * entity (`materializationSql` keeps each entity's latest row of the window, `row_number() = 1`),
 * so no two parts — and no two workers — carry the same key. Against the stored rows (earlier runs,
 * pushes) the store's batch mode reads the stored versions first and never writes an older one.
 *
 * Also the run's counts: `summarizeMapRun` reads the Map Run's ResultWriter manifest and adds up
 * the children's outputs.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { textLines } from '../pipelines/batch';
import { joinKeysOf } from './definitions';
import { expiresAtFor, type OnlineRecord, type OnlineStore } from './online-store';
import type { FeatureRepo, FeatureView, ValueType } from './types';
import { onlineKey, parseTimestamp, type ScalarValue } from './values';

/** Counts returned to the state machine by one child (one batch of parts). */
export interface MaterializeWriteResult {
  readonly featureView: string;
  readonly parts: number;
  readonly rowsRead: number;
  readonly written: number;
  readonly skippedStale: number;
}

/** Thrown for a row that does not fit the view's definition: bad data must stop the run. */
export class MaterializeDataError extends Error {
  override readonly name = 'MaterializeDataError';
}

/** Rows written per `writeMany` call: 40 BatchWriteItem calls of 25. */
export const MATERIALIZE_BATCH_ROWS = 1000;

/** Parses a text cell (the lake's string forms) by value type; `undefined` is NULL. */
export function parseCell(type: ValueType, text: string | undefined): ScalarValue | null {
  if (text === undefined) return null;
  switch (type) {
    case 'INT32':
    case 'INT64': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isSafeInteger(n))
        throw new Error(`${JSON.stringify(text)} is not a safe integer`);
      return n;
    }
    case 'FLOAT':
    case 'DOUBLE': {
      if (text === '') return null;
      const n = Number(text);
      if (!Number.isFinite(n)) throw new Error(`${JSON.stringify(text)} is not a finite number`);
      return n;
    }
    case 'BOOL':
      if (text !== 'true' && text !== 'false')
        throw new Error(`${JSON.stringify(text)} is not true or false`);
      return text === 'true';
    case 'STRING':
      return text;
    case 'UNIX_TIMESTAMP': {
      if (text === '') return null;
      const ms = parseTimestamp(text);
      if (ms === undefined) throw new Error(`${JSON.stringify(text)} is not a timestamp`);
      return Math.floor(ms / 1000);
    }
  }
}

/**
 * Parses a JSON value of an UNLOAD row by value type: numbers and booleans as JSON has them,
 * strings through {@link parseCell}; absent or null is NULL (Athena leaves NULL fields out).
 */
export function parseJsonCell(type: ValueType, value: unknown): ScalarValue | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return parseCell(type, value);
  if (typeof value === 'number') {
    if (type === 'BOOL' || type === 'STRING') throw new Error(`${value} is not a ${type === 'BOOL' ? 'bool' : 'string'}`);
    return parseCell(type, String(value));
  }
  if (typeof value === 'boolean' && type === 'BOOL') return value;
  throw new Error(`${JSON.stringify(value)} is not a ${type} value`);
}

/**
 * One UNLOAD row (an object with the join keys, the features, `event_timestamp` and
 * `created_timestamp`) as an online record.
 *
 * @throws MaterializeDataError naming the row (`where`) and the column.
 * @example
 * recordFromRow(wineRepo, wineFeatures, { wine_id: 1, alcohol: 9.4, …, event_timestamp: '2024-05-01 00:00:00.000' }, 'part-0 line 1');
 */
export function recordFromRow(repo: FeatureRepo, view: FeatureView, row: unknown, where: string): OnlineRecord {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    throw new MaterializeDataError(`${where} of ${view.name} is not a JSON object`);
  }
  const r = row as Record<string, unknown>;
  const parse = (name: string, type: ValueType) => {
    try {
      return parseJsonCell(type, r[name]);
    } catch (err) {
      throw new MaterializeDataError(`${where} of ${view.name}, column ${name}: ${(err as Error).message}`);
    }
  };
  const entity: Record<string, ScalarValue> = {};
  for (const k of joinKeysOf(repo, view)) {
    const v = parse(k.name, k.valueType);
    if (v === null) throw new MaterializeDataError(`${where} of ${view.name}: join key ${k.name} is missing or null`);
    entity[k.name] = v;
  }
  const eventTimeMs = parseTimestamp(r['event_timestamp']);
  if (eventTimeMs === undefined) {
    throw new MaterializeDataError(
      `${where} of ${view.name}: event_timestamp ${JSON.stringify(r['event_timestamp'] ?? null)} is not a timestamp`,
    );
  }
  // Rows without a created time are older than any pushed row with the same event time.
  const createdTimeMs = parseTimestamp(r['created_timestamp']) ?? 0;
  const expiresAtSeconds = expiresAtFor(view.ttlSeconds, eventTimeMs);
  return {
    pk: onlineKey(view.name, Object.entries(entity)),
    view: view.name,
    entity,
    features: Object.fromEntries(view.features.map((f) => [f.name, parse(f.name, f.dtype)])),
    eventTimeMs,
    createdTimeMs,
    ...(expiresAtSeconds !== undefined ? { expiresAtSeconds } : {}),
  };
}

/** An object's bytes, gunzipped when they start with gzip's magic (Athena gzips JSON UNLOADs). */
export async function* decodedChunks(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const all = (async function* () {
    yield first.value;
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
  })();
  if (first.value[0] === 0x1f && first.value[1] === 0x8b) {
    yield* Readable.from(all).pipe(createGunzip()) as AsyncIterable<Uint8Array>;
  } else {
    yield* all;
  }
}

/** One UNLOAD part of a child's batch: its key (for messages) and its body as it arrives. */
export interface UnloadPart {
  readonly key: string;
  readonly chunks: AsyncIterable<Uint8Array>;
}

/**
 * Writes every row of the parts to the online store, `batchRows` at a time.
 *
 * @example
 * await materializeParts({ repo: wineRepo, featureView: 'wine_features', parts, store });
 * // { featureView: 'wine_features', parts: 2, rowsRead: 1599, written: 1599, skippedStale: 0 }
 */
export async function materializeParts(input: {
  repo: FeatureRepo;
  featureView: string;
  parts: AsyncIterable<UnloadPart> | Iterable<UnloadPart>;
  store: Pick<OnlineStore, 'writeMany'>;
  batchRows?: number;
}): Promise<MaterializeWriteResult> {
  const view = input.repo.featureViews.get(input.featureView);
  if (!view) throw new MaterializeDataError(`feature view ${input.featureView} is not defined`);
  const size = input.batchRows ?? MATERIALIZE_BATCH_ROWS;
  let parts = 0;
  let rowsRead = 0;
  let written = 0;
  let skippedStale = 0;
  let batch: OnlineRecord[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const records = batch;
    batch = [];
    if (view.online === false) return;
    const res = await input.store.writeMany(records, { mode: 'batch' });
    written += res.written;
    skippedStale += res.skippedStale;
  };
  for await (const part of input.parts) {
    parts++;
    let line = 0;
    for await (const text of textLines(decodedChunks(part.chunks))) {
      line++;
      if (text.trim() === '') continue;
      const where = `${part.key} line ${line}`;
      let row: unknown;
      try {
        row = JSON.parse(text);
      } catch (err) {
        throw new MaterializeDataError(`${where} of ${view.name} is not JSON: ${(err as Error).message}`);
      }
      batch.push(recordFromRow(input.repo, view, row, where));
      rowsRead++;
      if (batch.length >= size) await flush();
    }
  }
  await flush();
  return { featureView: view.name, parts, rowsRead, written, skippedStale };
}

/** The run-wide counts of one view's Map Run, from its ResultWriter files. */
export interface MapRunSummary {
  readonly children: number;
  readonly failedChildren: number;
  readonly parts: number;
  readonly rowsRead: number;
  readonly written: number;
  readonly skippedStale: number;
}

/** What `summarizeMapRun` reads: objects by bucket and key, as text. */
export interface TextObjects {
  getText(bucket: string, key: string): Promise<string>;
}

/**
 * Adds up the children's outputs listed by a Map Run's ResultWriter manifest (`manifest.json`:
 * `ResultFiles.SUCCEEDED[].Key`, each a JSON array of `{ Output: "<child output as JSON>" }`).
 *
 * @throws MaterializeDataError when the manifest or a result file is not what Step Functions writes.
 */
export async function summarizeMapRun(objects: TextObjects, manifest: { bucket: string; key: string }): Promise<MapRunSummary> {
  const where = `s3://${manifest.bucket}/${manifest.key}`;
  const json = (text: string, what: string): unknown => {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new MaterializeDataError(`${what} is not JSON: ${(err as Error).message}`);
    }
  };
  const m = json(await objects.getText(manifest.bucket, manifest.key), where) as {
    DestinationBucket?: unknown;
    ResultFiles?: { SUCCEEDED?: { Key?: unknown }[]; FAILED?: { Key?: unknown }[] };
  };
  const bucket = typeof m?.DestinationBucket === 'string' ? m.DestinationBucket : manifest.bucket;
  const files = (status: 'SUCCEEDED' | 'FAILED') => {
    const list = m?.ResultFiles?.[status] ?? [];
    if (!Array.isArray(list)) throw new MaterializeDataError(`${where}: ResultFiles.${status} is not a list`);
    return list.map((f) => {
      if (typeof f?.Key !== 'string') throw new MaterializeDataError(`${where}: a ResultFiles.${status} entry has no Key`);
      return f.Key;
    });
  };
  const sum = { children: 0, failedChildren: 0, parts: 0, rowsRead: 0, written: 0, skippedStale: 0 };
  for (const [status, keys] of [['SUCCEEDED', files('SUCCEEDED')], ['FAILED', files('FAILED')]] as const) {
    for (const key of keys) {
      const entries = json(await objects.getText(bucket, key), `s3://${bucket}/${key}`);
      if (!Array.isArray(entries)) throw new MaterializeDataError(`s3://${bucket}/${key} is not a JSON array`);
      for (const e of entries as { Output?: unknown }[]) {
        sum.children++;
        if (status === 'FAILED') {
          sum.failedChildren++;
          continue;
        }
        const out = (typeof e?.Output === 'string' ? json(e.Output, `a child output in s3://${bucket}/${key}`) : e) as
          | Partial<MaterializeWriteResult>
          | undefined;
        sum.parts += Number(out?.parts ?? 0);
        sum.rowsRead += Number(out?.rowsRead ?? 0);
        sum.written += Number(out?.written ?? 0);
        sum.skippedStale += Number(out?.skippedStale ?? 0);
      }
    }
  }
  return sum;
}
