/**
 * The feature server's core, protocol-agnostic: `getOnlineFeatures` and `push` with Feast's
 * semantics and exact response shape (see /work/shared/specs/feast-feature-server.md). Errors are
 * thrown as `FeatureServerError`s that already carry Feast's status and body.
 *
 * Where Feast answers a client mistake with a 500 the conformance notes pin (no features
 * requested), the server does the same. An unsupported `to` (a 500 in Feast) is FastAPI's 422
 * `literal_error`, as if the field were typed, since a 5xx would tell the client to retry a request
 * that can never succeed. For other client mistakes where Feast
 * would crash with a 500 (mixed entity types, ragged columns, a missing join key, malformed refs,
 * feature name collisions) it answers 4xx with FastAPI's or Feast's error shape instead.
 */
import { type FeatureGroup, FeatureGroups, FIRST_PROJECTED_DAY, joinKeysOf, viewsFedBy } from './definitions';
import {
  FeastError,
  featureServiceNotFound,
  featureViewNotFound,
  PlainError,
  pushSourceNotFound,
  RequestValidationError,
  type ValidationIssue,
} from './errors';
import type { LakeRow, OfflineWriter } from './offline-writer';
import { expiresAtFor, type OnlineRecord, type OnlineStore } from './online-store';
import {
  type GetOnlineFeaturesRequest,
  getOnlineFeaturesRequestSchema,
  PUSH_MODES,
  parseBody,
  type PushRequest,
  pushRequestSchema,
} from './requests';
import type { FeatureRepo, ValueType } from './types';
import {
  checkValue,
  formatFeastTimestamp,
  formatLakeTimestamp,
  joinKeyTooLong,
  onlineKey,
  parseTimestamp,
  type ScalarValue,
} from './values';

/** Feast's `FieldStatus` names as they appear in responses. */
export type FieldStatus = 'PRESENT' | 'NULL_VALUE' | 'NOT_FOUND' | 'OUTSIDE_MAX_AGE';

/** One column of the response: the values of one feature (or join key) for every entity row. */
export interface FeatureVector {
  values: (ScalarValue | null)[];
  statuses: FieldStatus[];
  event_timestamps: string[];
}

/** Feast's `/get-online-features` response (`convert_response_to_dict`). */
export interface GetOnlineFeaturesResponse {
  metadata: { feature_names: string[] };
  results: FeatureVector[];
}

/** What the server needs. */
export interface FeatureServerDeps {
  readonly repo: FeatureRepo;
  readonly store: Pick<OnlineStore, 'readMany' | 'writeMany'>;
  readonly offline: OfflineWriter;
  /** @default Date.now */
  readonly now?: () => number;
}

/** The feature server's operations. */
export interface FeatureServer {
  getOnlineFeatures(request: GetOnlineFeaturesRequest): Promise<GetOnlineFeaturesResponse>;
  push(request: PushRequest): Promise<{ onlineWritten: number; offlineUri?: string }>;
}

/** Feast's timestamp for "no timestamp": entity columns and rows that were not found. */
export const NULL_TIMESTAMP = '1970-01-01T00:00:00Z';

/**
 * Builds the feature server over a repo, an online store and an offline writer.
 *
 * @example
 * const server = createFeatureServer({ repo: wineRepo, store, offline });
 * const res = await server.getOnlineFeatures({
 *   features: ['wine_features:alcohol'], entities: { wine_id: [1, 2] },
 * });
 * res.results[res.metadata.feature_names.indexOf('alcohol')].values; // [9.4, 9.8]
 */
export function createFeatureServer(deps: FeatureServerDeps): FeatureServer {
  const now = deps.now ?? Date.now;
  return {
    getOnlineFeatures: (request) => getOnlineFeatures(deps.repo, deps.store, now(), request),
    push: (request) => push(deps, now(), request),
  };
}

type Group = FeatureGroup;

/** Resolves the requested refs into feature views and features, in Feast's grouping order. */
function resolveFeatures(
  repo: FeatureRepo,
  req: { feature_service?: string | null; features: string[] },
): Group[] {
  const groups = new FeatureGroups();
  if (req.feature_service) {
    const service = repo.featureServices.get(req.feature_service);
    if (!service) throw featureServiceNotFound(req.feature_service, repo.project);
    groups.addService(repo, service);
    return groups.list();
  }
  if (req.features.length === 0) throw new PlainError('No features specified for retrieval');
  const malformed: ValidationIssue[] = [];
  req.features.forEach((ref, i) => {
    const sep = ref.indexOf(':');
    if (sep <= 0 || sep === ref.length - 1) {
      malformed.push({
        type: 'value_error',
        loc: ['body', 'features', i],
        msg: `Feature reference must be '<feature_view>:<feature>', but '${ref}' was provided`,
        input: ref,
      });
    }
  });
  if (malformed.length > 0) throw new RequestValidationError(malformed);
  for (const ref of req.features) {
    const sep = ref.indexOf(':');
    const viewName = ref.slice(0, sep);
    const feature = ref.slice(sep + 1);
    const view = repo.featureViews.get(viewName);
    if (!view) throw featureViewNotFound(viewName, repo.project);
    if (!view.features.some((f) => f.name === feature)) {
      // Feast raises a bare KeyError (500) here; a 404 in the Feast error shape tells the client
      // what is wrong. FeastObjectNotFoundException is the real base class of Feast's 404s.
      throw new FeastError(
        'FeastObjectNotFoundException',
        `Feature ${feature} not found in projection ${viewName}`,
        404,
      );
    }
    groups.add(view, feature);
  }
  return groups.list();
}

async function getOnlineFeatures(
  repo: FeatureRepo,
  store: Pick<OnlineStore, 'readMany'>,
  nowMs: number,
  raw: GetOnlineFeaturesRequest,
): Promise<GetOnlineFeaturesResponse> {
  const req = parseBody(getOnlineFeaturesRequestSchema, raw);
  const groups = resolveFeatures(repo, req);
  const outputName = (g: Group, f: string) => (req.full_feature_names ? `${g.view.name}__${f}` : f);

  if (!req.full_feature_names) {
    const seen = new Map<string, number>();
    for (const g of groups) for (const f of g.features) seen.set(f, (seen.get(f) ?? 0) + 1);
    const dupes = [...seen].filter(([, n]) => n > 1).map(([f]) => f);
    if (dupes.length > 0) {
      throw new FeastError(
        'FeatureNameCollisionError',
        `Duplicate features named ${dupes.join(', ')} found.\nTo resolve this collision, either use the full feature name by setting 'full_feature_names=True', or ensure that the features in question have unique names.`,
        400,
      );
    }
  }

  // Entities: columnar lists of one length; only the join keys of requested views are used and
  // echoed back, other keys are ignored (as Feast does).
  const columns = Object.entries(req.entities);
  const rowCount = columns[0]?.[1].length ?? 0;
  const issues: ValidationIssue[] = [];
  for (const [key, values] of columns) {
    if (values.length !== rowCount) {
      issues.push({
        type: 'value_error',
        loc: ['body', 'entities', key],
        msg: `All entity rows must have the same columns: ${key} must have ${rowCount} values, but ${values.length} were provided`,
        input: values,
      });
    }
  }
  const keyTypes = new Map<string, ValueType>();
  for (const g of groups) for (const k of joinKeysOf(repo, g.view)) keyTypes.set(k.name, k.valueType);
  for (const [key, type] of keyTypes) {
    const values = req.entities[key];
    if (!values) {
      issues.push({ type: 'missing', loc: ['body', 'entities', key], msg: 'Field required', input: null });
      continue;
    }
    values.forEach((v, i) => {
      const c =
        v === null
          ? { ok: false as const, code: 'missing', message: 'Join key values must not be null' }
          : (joinKeyTooLong(v) ?? checkValue(type, v));
      if (!c.ok) issues.push({ type: c.code, loc: ['body', 'entities', key, i], msg: c.message, input: v });
    });
  }
  if (issues.length > 0) throw new RequestValidationError(issues);

  const entityKeys = columns.map(([k]) => k).filter((k) => keyTypes.has(k));
  const pksPerGroup = groups.map((g) => {
    const keys = joinKeysOf(repo, g.view).map((k) => k.name);
    return Array.from({ length: rowCount }, (_, row) =>
      onlineKey(
        g.view.name,
        keys.map((k) => [k, req.entities[k]![row] as ScalarValue] as const),
      ),
    );
  });
  const stored = rowCount > 0 ? await store.readMany(pksPerGroup.flat()) : new Map<string, OnlineRecord>();

  const response: GetOnlineFeaturesResponse = { metadata: { feature_names: [] }, results: [] };
  for (const key of entityKeys) {
    response.metadata.feature_names.push(key);
    response.results.push({
      values: req.entities[key]! as ScalarValue[],
      statuses: Array(rowCount).fill('PRESENT'),
      event_timestamps: Array(rowCount).fill(NULL_TIMESTAMP),
    });
  }
  groups.forEach((g, gi) => {
    const ttlMs = g.view.ttlSeconds * 1000;
    const records = pksPerGroup[gi]!.map((pk) => stored.get(pk));
    for (const f of g.features) {
      const vector: FeatureVector = { values: [], statuses: [], event_timestamps: [] };
      for (const r of records) {
        if (!r) {
          vector.values.push(null);
          vector.statuses.push('NOT_FOUND');
          vector.event_timestamps.push(NULL_TIMESTAMP);
          continue;
        }
        const value = r.features[f] ?? null;
        vector.values.push(value);
        vector.event_timestamps.push(formatFeastTimestamp(r.eventTimeMs));
        // Like Feast's Go server: a stale value is still returned, flagged, so the caller decides.
        if (value === null) vector.statuses.push('NULL_VALUE');
        else if (ttlMs > 0 && nowMs - r.eventTimeMs > ttlMs) vector.statuses.push('OUTSIDE_MAX_AGE');
        else vector.statuses.push('PRESENT');
      }
      response.metadata.feature_names.push(outputName(g, f));
      response.results.push(vector);
    }
  });
  return response;
}

/**
 * The most rows one push may carry. The online write is one conditional PutItem per row (race-free,
 * but not transactional across rows), and the feature server's function times out after 10 s: a
 * push large enough to outlast it would answer 502 with part of its rows written. 1,000 rows take
 * 1–2 s on AWS (4 concurrent puts of 5–8 ms) and ~5 s on the local platform of a busy two-core machine
 * (measured: 1,000 rows 4.5–5.6 s, 3,000 rows 8.8 s, 4,000 rows timed out), so a push within the limit
 * lands whole; a larger one is refused with 413 before anything is written.
 */
export const MAX_PUSH_ROWS = 1000;

async function push(
  deps: FeatureServerDeps,
  nowMs: number,
  raw: PushRequest,
): Promise<{ onlineWritten: number; offlineUri?: string }> {
  const req = parseBody(pushRequestSchema, raw);
  if (!(PUSH_MODES as readonly string[]).includes(req.to)) {
    const expected = "'online', 'offline' or 'online_and_offline'";
    throw new RequestValidationError([
      {
        type: 'literal_error',
        loc: ['body', 'to'],
        msg: `Input should be ${expected}`,
        input: req.to,
        ctx: { expected },
      },
    ]);
  }
  const source = deps.repo.pushSources.get(req.push_source_name);
  if (!source) throw pushSourceNotFound(req.push_source_name);
  const views = viewsFedBy(deps.repo, source.name);
  const { timestampField, createdTimestampColumn } = source.batchSource;
  const df = req.df;
  const columns = Object.entries(df);
  const rowCount = columns[0]?.[1].length ?? 0;
  const tooLong = columns.find(([, values]) => values.length > MAX_PUSH_ROWS);
  if (tooLong) {
    // Refused before anything is written: a push must land whole or not at all (see MAX_PUSH_ROWS).
    const [name, values] = tooLong;
    throw new RequestValidationError(
      [
        {
          type: 'too_long',
          loc: ['body', 'df', name],
          msg: `List should have at most ${MAX_PUSH_ROWS} items after validation, not ${values.length}: split the rows across several pushes`,
          input: null,
          ctx: { field_type: 'List', max_length: MAX_PUSH_ROWS, actual_length: values.length },
        },
      ],
      413,
    );
  }

  // Every column the fed views need, with its type; a missing feature column is refused rather
  // than stored as null, which would silently wipe the value a previous push wrote.
  const needed = new Map<string, ValueType>();
  for (const v of views) {
    for (const k of joinKeysOf(deps.repo, v)) needed.set(k.name, k.valueType);
    for (const f of v.features) needed.set(f.name, f.dtype);
  }
  const issues: ValidationIssue[] = [];
  for (const [name, values] of columns) {
    if (values.length !== rowCount) {
      issues.push({
        type: 'value_error',
        loc: ['body', 'df', name],
        msg: `All columns must have the same length: ${name} must have ${rowCount} values, but ${values.length} were provided`,
        input: values,
      });
    }
  }
  const typed = new Map<string, (ScalarValue | null)[]>();
  const joinKeyNames = new Set(views.flatMap((v) => joinKeysOf(deps.repo, v).map((k) => k.name)));
  for (const [name, type] of [...needed, [timestampField, 'UNIX_TIMESTAMP'] as const]) {
    const values = df[name];
    if (!values) {
      issues.push({ type: 'missing', loc: ['body', 'df', name], msg: 'Field required', input: null });
      continue;
    }
    typed.set(
      name,
      values.map((v, i) => {
        const required = joinKeyNames.has(name) || name === timestampField;
        const c =
          v === null && required
            ? { ok: false as const, code: 'missing', message: `${name} values must not be null` }
            : joinKeyNames.has(name) && joinKeyTooLong(v)
              ? joinKeyTooLong(v)!
              : name === timestampField
              ? checkTimestampMs(v)
              : checkValue(type, v);
        if (!c.ok) {
          issues.push({ type: c.code, loc: ['body', 'df', name, i], msg: c.message, input: v });
          return null;
        }
        return c.value;
      }),
    );
  }
  const created = createdTimestampColumn ? df[createdTimestampColumn] : undefined;
  const createdMs = (created ?? []).map((v, i) => {
    if (v === null || v === undefined) return nowMs;
    const c = checkTimestampMs(v);
    if (!c.ok)
      issues.push({
        type: c.code,
        loc: ['body', 'df', createdTimestampColumn!, i],
        msg: c.message,
        input: v,
      });
    return c.ok ? (c.value as number) : nowMs;
  });
  if (req.to === 'offline' || req.to === 'online_and_offline') {
    // The offline tables project days from FIRST_PROJECTED_DAY on: an older row would be written
    // where no query looks. Refused before anything is written, online included.
    const firstMs = Date.parse(`${FIRST_PROJECTED_DAY}T00:00:00Z`);
    (typed.get(timestampField) ?? []).forEach((v, i) => {
      if (typeof v === 'number' && v < firstMs) {
        issues.push({
          type: 'value_error',
          loc: ['body', 'df', timestampField, i],
          msg: `${timestampField} must be on or after ${FIRST_PROJECTED_DAY} for the offline store (its first partition day)`,
          input: df[timestampField]?.[i],
        });
      }
    });
  }
  if (issues.length > 0) throw new RequestValidationError(issues);
  if (rowCount === 0) return { onlineWritten: 0 };

  const eventMs = typed.get(timestampField)! as number[];
  let onlineWritten = 0;
  if (req.to === 'online' || req.to === 'online_and_offline') {
    const records: OnlineRecord[] = [];
    for (const v of views) {
      if (v.online === false) continue;
      const keys = joinKeysOf(deps.repo, v).map((k) => k.name);
      for (let row = 0; row < rowCount; row++) {
        const entity = Object.fromEntries(keys.map((k) => [k, typed.get(k)![row] as ScalarValue]));
        const eventTimeMs = eventMs[row]!;
        const expiresAtSeconds = expiresAtFor(v.ttlSeconds, eventTimeMs);
        records.push({
          pk: onlineKey(v.name, Object.entries(entity)),
          view: v.name,
          entity,
          features: Object.fromEntries(v.features.map((f) => [f.name, typed.get(f.name)![row] ?? null])),
          eventTimeMs,
          createdTimeMs: createdMs[row] ?? nowMs,
          ...(expiresAtSeconds !== undefined ? { expiresAtSeconds } : {}),
        });
      }
    }
    // Pushes are small and may race each other: conditional puts keep the newest version.
    onlineWritten = (await deps.store.writeMany(records, { mode: 'conditional' })).written;
  }
  if (req.to === 'offline' || req.to === 'online_and_offline') {
    const rows: LakeRow[] = Array.from({ length: rowCount }, (_, row) => {
      const out: Record<string, unknown> = {};
      for (const name of needed.keys()) out[name] = typed.get(name)![row];
      out[timestampField] = formatLakeTimestamp(eventMs[row]!);
      if (createdTimestampColumn) out[createdTimestampColumn] = formatLakeTimestamp(createdMs[row] ?? nowMs);
      return out;
    });
    const appended = await deps.offline.append(source.batchSource, rows);
    return { onlineWritten, offlineUri: appended.uri };
  }
  return { onlineWritten };
}

// Event and created times keep millisecond precision (a UNIX_TIMESTAMP feature keeps seconds).
function checkTimestampMs(
  v: unknown,
): { ok: true; value: number } | { ok: false; code: string; message: string } {
  const ms = parseTimestamp(v);
  if (ms === undefined)
    return { ok: false, code: 'datetime_type', message: 'Input should be a valid timestamp' };
  return { ok: true, value: ms };
}
