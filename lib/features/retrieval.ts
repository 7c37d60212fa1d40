/**
 * SQL generators for the offline store: point-in-time correct training retrieval and the
 * materialization query. The SQL is a subset both Athena (Trino) and DuckDB (the local Athena
 * engine) run unchanged: CTEs, `row_number() OVER (PARTITION BY … ORDER BY …)`, `UNION ALL`,
 * `CAST(… AS TIMESTAMP)`, `TIMESTAMP '…'` literals and `INTERVAL '<n>' DAY|SECOND` arithmetic —
 * no `ASOF JOIN`, `date_parse`, `approx_*` or CTAS properties.
 *
 * Each view's rows come from its batch table and, when it has a push source, from the push
 * source's batch table (offline pushes), so pushed rows take part in training and materialization.
 */
import { dayOf, type FeatureGroup, FeatureGroups, joinKeysOf } from './definitions';
import type { FeatureRepo, FeatureView, LakeTable, ValueType } from './types';
import { ident } from '../shared/sql';
import { formatLakeTimestamp } from './values';

export { ident };

/** How a lake table is referenced in SQL. @default `"database"."table"` */
export type RelationOf = (table: LakeTable) => string;
const defaultRelation: RelationOf = (t) => `${ident(t.database)}.${ident(t.table)}`;

/** The labelled events to join features onto. */
export interface EventsTable {
  /** SQL relation, e.g. `"lake"."wine_labels"`. Must have the views' join-key columns. */
  readonly relation: string;
  /** The event time column (timestamp, or a string `CAST(… AS TIMESTAMP)` accepts). */
  readonly timestampColumn: string;
  /**
   * Other columns to carry through (labels …).
   * @default []
   */
  readonly columns?: readonly string[];
}

/** Options of `pointInTimeJoinSql`. */
export interface PointInTimeJoinOptions {
  readonly repo: FeatureRepo;
  readonly events: EventsTable;
  /** `view:feature` refs; or use `featureService`. */
  readonly features?: readonly string[];
  readonly featureService?: string;
  /** Name feature columns `view__feature` (Feast's `full_feature_names`). @default false */
  readonly fullFeatureNames?: boolean;
  /** @default `"database"."table"` */
  readonly relationOf?: RelationOf;
  /** Read offline pushes too. @default true */
  readonly includePushed?: boolean;
}

/**
 * SQL for a training set: every row of the events table, with each requested feature taken from
 * the latest feature row of the same entity whose event time is at or before the event's time
 * and no older than the view's TTL; NULL when there is none. Nothing from after an event's time
 * can reach it (no label leakage). Output order follows event time.
 *
 * @example
 * const sql = pointInTimeJoinSql({
 *   repo: wineRepo,
 *   events: { relation: '"lake"."wine_labels"', timestampColumn: 'event_timestamp', columns: ['quality'] },
 *   featureService: 'wine_quality_v1',
 * });
 * // run with Athena StartQueryExecution, or DuckDB locally
 */
export function pointInTimeJoinSql(options: PointInTimeJoinOptions): string {
  const { repo, events } = options;
  const relationOf = options.relationOf ?? defaultRelation;
  const groups = resolveGroups(repo, options);
  const keys = [...new Set(groups.flatMap((g) => joinKeysOf(repo, g.view).map((k) => k.name)))];
  const carried = [...new Set([...keys, events.timestampColumn, ...(events.columns ?? [])])];

  const names = new Map<string, string>();
  for (const g of groups) {
    for (const f of g.features) {
      const out = options.fullFeatureNames ? `${g.view.name}__${f}` : f;
      if (names.has(out) || carried.includes(out)) {
        throw new Error(
          `feature column ${out} is requested twice or clashes with an events column; use fullFeatureNames`,
        );
      }
      names.set(out, f);
    }
  }

  const ctes = [
    `${ident('__events')} AS (\n  SELECT ${carried.map((c) => ident(c)).join(', ')},\n` +
      `    CAST(${ident(events.timestampColumn)} AS TIMESTAMP) AS ${ident('__event_ts')},\n` +
      `    ${eventId(carried)} AS ${ident('__row_id')}\n` +
      `  FROM ${events.relation}\n)`,
  ];
  const selects = carried.map((c) => `e.${ident(c)}`);
  const joins: string[] = [];
  groups.forEach((g, i) => {
    const viewKeys = joinKeysOf(repo, g.view).map((k) => k.name);
    const src = ident(`__src_${i}`);
    const matched = ident(`__matched_${i}`);
    ctes.push(`${src} AS (\n${sourceSelect(repo, g.view, relationOf, options.includePushed ?? true)}\n)`);
    const bounds = [
      ...viewKeys.map((k) => `s.${ident(k)} = e.${ident(k)}`),
      `s.${ident('__feature_ts')} <= e.${ident('__event_ts')}`,
      ...(g.view.ttlSeconds > 0
        ? [`s.${ident('__feature_ts')} >= e.${ident('__event_ts')} - ${interval(g.view.ttlSeconds)}`]
        : []),
    ];
    ctes.push(
      `${matched} AS (\n  SELECT e.${ident('__row_id')}, ${g.features.map((f) => `s.${ident(f)}`).join(', ')},\n` +
        `    row_number() OVER (PARTITION BY e.${ident('__row_id')} ORDER BY s.${ident('__feature_ts')} DESC, s.${ident('__created_ts')} DESC NULLS LAST) AS ${ident('__rank')}\n` +
        `  FROM ${ident('__events')} e\n  JOIN ${src} s\n    ON ${bounds.join('\n   AND ')}\n)`,
    );
    joins.push(
      `LEFT JOIN ${matched} m${i} ON m${i}.${ident('__row_id')} = e.${ident('__row_id')} AND m${i}.${ident('__rank')} = 1`,
    );
    for (const f of g.features)
      selects.push(`m${i}.${ident(f)} AS ${ident(options.fullFeatureNames ? `${g.view.name}__${f}` : f)}`);
  });

  return (
    `WITH ${ctes.join(',\n')}\n` +
    `SELECT ${selects.join(',\n  ')}\nFROM ${ident('__events')} e\n${joins.join('\n')}\nORDER BY e.${ident('__event_ts')}${keys.map((k) => `, e.${ident(k)}`).join('')}`
  );
}

/**
 * An event's identity for the joins: the MD5 of all its columns, each written as its length, ':' and
 * its text (NULL as '-'), so no two different events share a text. It replaces a
 * `row_number() OVER (ORDER BY …)`, which Athena computes on one worker over the whole events table.
 * Identical events share an identity and get the same features, as they would anyway.
 */
function eventId(columns: readonly string[]): string {
  const parts = columns.map((c) => {
    const text = `CAST(${ident(c)} AS VARCHAR)`;
    return `coalesce(CAST(length(${text}) AS VARCHAR) || ':' || ${text}, '-')`;
  });
  return `to_hex(md5(to_utf8(${parts.join(" || '|' || ")})))`;
}

/** Options of `materializationSql`. */
export interface MaterializationOptions {
  readonly repo: FeatureRepo;
  readonly featureView: string;
  /** Window start, inclusive. */
  readonly start: Date;
  /** Window end, exclusive. */
  readonly end: Date;
  /** @default `"database"."table"` */
  readonly relationOf?: RelationOf;
  /** @default true */
  readonly includePushed?: boolean;
  /**
   * The tables' event-day partition column (`dt`, `YYYY-MM-DD`): each source is filtered to the
   * window's days as well, so Athena reads only those partitions' prefixes.
   * @default - no partition filter (the tables are read whole)
   */
  readonly dayPartition?: string;
}

/**
 * SQL for materializing a view: per entity, its latest row with event time in [start, end) and
 * not older than the view's TTL at `end` (rows that would already be expired when served are not
 * loaded). Output columns: the join keys, the features, `event_timestamp`, `created_timestamp`
 * (what `materialize-write` reads back).
 *
 * @example
 * const sql = materializationSql({
 *   repo: wineRepo, featureView: 'wine_features',
 *   start: new Date('2024-01-01T00:00:00Z'), end: new Date('2024-01-02T00:00:00Z'),
 * });
 */
export function materializationSql(options: MaterializationOptions): string {
  const { repo } = options;
  const view = repo.featureViews.get(options.featureView);
  if (!view) throw new Error(`feature view ${options.featureView} is not defined`);
  const startMs = options.start.getTime();
  const endMs = options.end.getTime();
  if (!(startMs < endMs)) {
    throw new Error(
      `start must be before end, but ${options.start.toISOString()} >= ${options.end.toISOString()} was provided`,
    );
  }
  const from = view.ttlSeconds > 0 ? Math.max(startMs, endMs - view.ttlSeconds * 1000) : startMs;
  const keys = joinKeysOf(repo, view).map((k) => ident(k.name));
  const features = view.features.map((f) => ident(f.name));
  return (
    `SELECT ${[...keys, ...features].join(', ')},\n` +
    `  ${ident('__feature_ts')} AS ${ident('event_timestamp')}, ${ident('__created_ts')} AS ${ident('created_timestamp')}\n` +
    `FROM (\n  SELECT s.*,\n` +
    `    row_number() OVER (PARTITION BY ${keys.map((k) => `s.${k}`).join(', ')} ORDER BY s.${ident('__feature_ts')} DESC, s.${ident('__created_ts')} DESC NULLS LAST) AS ${ident('__rank')}\n` +
    `  FROM (\n${sourceSelect(repo, view, options.relationOf ?? defaultRelation, options.includePushed ?? true, days(options.dayPartition, from, endMs))}\n  ) s\n` +
    `  WHERE s.${ident('__feature_ts')} >= TIMESTAMP '${formatLakeTimestamp(from)}'\n` +
    `    AND s.${ident('__feature_ts')} < TIMESTAMP '${formatLakeTimestamp(endMs)}'\n` +
    `) ranked\nWHERE ${ident('__rank')} = 1`
  );
}

/** The lake tables a view's rows come from: its batch table, then its push source's table. */
export function sourceTablesOf(repo: FeatureRepo, view: FeatureView, includePushed = true): LakeTable[] {
  const push = view.pushSource ? repo.pushSources.get(view.pushSource) : undefined;
  return push && includePushed ? [view.source, push.batchSource] : [view.source];
}

/** The `WHERE` on the day partition that covers event times in [fromMs, endMs), or '' without one. */
function days(column: string | undefined, fromMs: number, endMs: number): string {
  if (column === undefined) return '';
  return `\n  WHERE ${ident(column)} BETWEEN '${dayOf(fromMs)}' AND '${dayOf(endMs - 1)}'`;
}

/** A view's rows from its batch table (and push table): join keys, features, __feature_ts, __created_ts. */
function sourceSelect(
  repo: FeatureRepo,
  view: FeatureView,
  relationOf: RelationOf,
  includePushed: boolean,
  where = '',
): string {
  const tables = sourceTablesOf(repo, view, includePushed);
  const columns = [...joinKeysOf(repo, view).map((k) => k.name), ...view.features.map((f) => f.name)];
  return tables
    .map(
      (t) =>
        `  SELECT ${columns.map(ident).join(', ')},\n` +
        `    CAST(${ident(t.timestampField)} AS TIMESTAMP) AS ${ident('__feature_ts')},\n` +
        `    ${t.createdTimestampColumn ? `CAST(${ident(t.createdTimestampColumn)} AS TIMESTAMP)` : 'CAST(NULL AS TIMESTAMP)'} AS ${ident('__created_ts')}\n` +
        `  FROM ${relationOf(t)}${where}`,
    )
    .join('\n  UNION ALL\n');
}

// Whole days plus the remaining seconds: keeps each literal small, which every Trino version and
// DuckDB parse (a single huge SECOND literal is where engines differ).
function interval(seconds: number): string {
  const days = Math.floor(seconds / 86_400);
  const rest = seconds % 86_400;
  const parts = [
    ...(days > 0 ? [`INTERVAL '${days}' DAY`] : []),
    ...(rest > 0 ? [`INTERVAL '${rest}' SECOND`] : []),
  ];
  return parts.length === 1 ? parts[0]! : `(${parts.join(' + ')})`;
}

/**
 * What a feature service's training retrieval yields (`fullFeatureNames` off) and reads: its views'
 * join keys, its features in projection order, and the lake tables its rows come from.
 *
 * @example
 * featureServiceColumns(wineRepo, 'wine_quality_v1');
 * // { keys: [{ name: 'wine_id', valueType: 'INT64' }], features: ['fixed_acidity', …, 'alcohol'],
 * //   tables: [wineFeatures.source, winePush.batchSource] }
 */
export function featureServiceColumns(
  repo: FeatureRepo,
  featureService: string,
): { keys: { name: string; valueType: ValueType }[]; features: string[]; tables: LakeTable[] } {
  const groups = resolveGroups(repo, { featureService });
  const keys = new Map<string, ValueType>();
  for (const g of groups) for (const k of joinKeysOf(repo, g.view)) keys.set(k.name, k.valueType);
  return {
    keys: [...keys].map(([name, valueType]) => ({ name, valueType })),
    features: groups.flatMap((g) => g.features),
    tables: groups.flatMap((g) => sourceTablesOf(repo, g.view)),
  };
}

function resolveGroups(
  repo: FeatureRepo,
  options: Pick<PointInTimeJoinOptions, 'featureService' | 'features'>,
): FeatureGroup[] {
  const groups = new FeatureGroups();
  if (options.featureService) {
    const service = repo.featureServices.get(options.featureService);
    if (!service) throw new Error(`feature service ${options.featureService} is not defined`);
    groups.addService(repo, service);
  } else {
    for (const ref of options.features ?? []) {
      const [viewName, feature] = ref.split(':');
      const view = viewName ? repo.featureViews.get(viewName) : undefined;
      if (!view || !feature || !view.features.some((f) => f.name === feature)) {
        throw new Error(`feature reference must name a defined 'view:feature', but '${ref}' was provided`);
      }
      groups.add(view, feature);
    }
  }
  if (groups.size === 0) throw new Error('no features requested: give features or featureService');
  return groups.list();
}
