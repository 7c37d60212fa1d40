/**
 * The write half of materialization: turns the result rows of `materializationSql` — in Athena's
 * `GetQueryResults` shape, all values strings — into online records and writes them with
 * `writeMany`. The state machine runs the query with Athena (locally: the DuckDB-backed Athena
 * engine serving the same shape), then calls `lambdas/materialize-write.ts` with its id.
 */
import { joinKeysOf } from './definitions';
import { expiresAtFor, type OnlineRecord, type OnlineStore } from './online-store';
import type { FeatureRepo, FeatureView, ValueType } from './types';
import { onlineKey, parseTimestamp, type ScalarValue } from './values';

/** The part of Athena's `ResultSet` this module reads. */
export interface AthenaResultSet {
  readonly ResultSetMetadata?: {
    readonly ColumnInfo?: readonly { readonly Name?: string; readonly Label?: string }[];
  };
  readonly Rows?: readonly { readonly Data?: readonly { readonly VarCharValue?: string }[] }[];
}

/** Counts returned to the state machine. */
export interface MaterializeWriteResult {
  readonly featureView: string;
  readonly rowsRead: number;
  readonly written: number;
  readonly skippedStale: number;
}

/** Thrown for a result row that does not fit the view's definition: bad data must stop the run. */
export class MaterializeDataError extends Error {
  override readonly name = 'MaterializeDataError';
}

/**
 * Converts one page of results to online records. Athena repeats the column names as the first
 * row of the first page of a SELECT; pass `firstPage` so that row is dropped when it is one.
 *
 * @example
 * recordsFromResultSet(wineRepo, wineFeatures, page, { firstPage: true, rowOffset: 0 });
 */
export function recordsFromResultSet(
  repo: FeatureRepo,
  view: FeatureView,
  page: AthenaResultSet,
  position: { firstPage: boolean; rowOffset: number },
): OnlineRecord[] {
  const columns = (page.ResultSetMetadata?.ColumnInfo ?? []).map((c) => c.Name ?? c.Label ?? '');
  let rows = page.Rows ?? [];
  if (position.firstPage && rows[0]?.Data?.every((d, i) => d.VarCharValue === columns[i])) {
    rows = rows.slice(1);
  }
  const index = new Map(columns.map((c, i) => [c, i]));
  const keys = joinKeysOf(repo, view);
  const need = [...keys.map((k) => k.name), ...view.features.map((f) => f.name), 'event_timestamp'];
  const missing = need.filter((c) => !index.has(c));
  if (missing.length > 0) {
    throw new MaterializeDataError(`query results for ${view.name} lack columns ${missing.join(', ')}`);
  }
  return rows.map((row, r) => {
    const rowNumber = position.rowOffset + r + 1;
    const cell = (name: string) => row.Data?.[index.get(name)!]?.VarCharValue;
    const parse = (name: string, type: ValueType) => {
      try {
        return parseCell(type, cell(name));
      } catch (err) {
        throw new MaterializeDataError(
          `row ${rowNumber} of ${view.name}, column ${name}: ${(err as Error).message}`,
        );
      }
    };
    const entity: Record<string, ScalarValue> = {};
    for (const k of keys) {
      const v = parse(k.name, k.valueType);
      if (v === null)
        throw new MaterializeDataError(`row ${rowNumber} of ${view.name}: join key ${k.name} is null`);
      entity[k.name] = v;
    }
    const eventTimeMs = parseTimestamp(cell('event_timestamp'));
    if (eventTimeMs === undefined) {
      throw new MaterializeDataError(
        `row ${rowNumber} of ${view.name}: event_timestamp ${JSON.stringify(cell('event_timestamp'))} is not a timestamp`,
      );
    }
    // Rows without a created time are older than any pushed row with the same event time.
    const createdTimeMs = index.has('created_timestamp')
      ? (parseTimestamp(cell('created_timestamp')) ?? 0)
      : 0;
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
  });
}

/** Parses an Athena cell (a string, or absent for NULL) by value type. */
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
 * Writes every page of a materialization query's results to the online store, page by page so
 * memory stays bounded by one page.
 *
 * @example
 * const pages = (async function* () { for await (const p of paginateGetQueryResults(...)) yield p.ResultSet!; })();
 * await materializeResults({ repo: wineRepo, featureView: 'wine_features', pages, store });
 */
export async function materializeResults(input: {
  repo: FeatureRepo;
  featureView: string;
  pages: AsyncIterable<AthenaResultSet>;
  store: Pick<OnlineStore, 'writeMany'>;
}): Promise<MaterializeWriteResult> {
  const view = input.repo.featureViews.get(input.featureView);
  if (!view) throw new MaterializeDataError(`feature view ${input.featureView} is not defined`);
  let rowsRead = 0;
  let written = 0;
  let skippedStale = 0;
  let firstPage = true;
  for await (const page of input.pages) {
    const records = recordsFromResultSet(input.repo, view, page, { firstPage, rowOffset: rowsRead });
    firstPage = false;
    rowsRead += records.length;
    if (view.online === false || records.length === 0) continue;
    const res = await input.store.writeMany(records, { mode: 'batch' });
    written += res.written;
    skippedStale += res.skippedStale;
  }
  return { featureView: view.name, rowsRead, written, skippedStale };
}
