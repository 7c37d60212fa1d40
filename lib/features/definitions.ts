/**
 * Feature definitions in code: `defineRepo` validates entities, feature views, push sources and
 * feature services once, and returns lookups the server, the retrieval SQL and the CDK stack share.
 * Also the infrastructure facts derived from definitions: the Glue columns of each lake table and
 * the key schema of the DynamoDB online table.
 *
 * @example
 * const repo = defineRepo({
 *   project: 'demo',
 *   entities: [{ name: 'driver', joinKey: 'driver_id', valueType: 'INT64' }],
 *   featureViews: [{
 *     name: 'driver_hourly_stats', entities: ['driver'], ttlSeconds: 86_400,
 *     features: [{ name: 'conv_rate', dtype: 'FLOAT' }],
 *     source: { database: 'lake', table: 'driver_stats', location: 'driver_stats', format: 'parquet',
 *               timestampField: 'event_timestamp' },
 *   }],
 * });
 * repo.featureViews.get('driver_hourly_stats')?.ttlSeconds; // 86400
 */
import type {
  Entity,
  FeatureRepo,
  FeatureService,
  FeatureView,
  LakeTable,
  PushSource,
  RepoDefinition,
  ValueType,
} from './types';
import { VALUE_TYPES } from './types';

export type * from './types';

/** Thrown by `defineRepo` with every problem found, one per line. */
export class FeatureDefinitionError extends Error {
  override readonly name = 'FeatureDefinitionError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid feature definitions:\n- ${problems.join('\n- ')}`);
  }
}

/**
 * Key prefix of the platform's offline feature tables inside the curated bucket: the stack registers
 * the Glue tables there, the feature server's offline pushes and the seeded example data go there,
 * and the training pipeline reads object versions there.
 */
export const FEATURE_STORE_PREFIX = 'features';

/**
 * Column names the materialization query gives the event and created timestamps; features may not
 * use them, so the query's output columns stay unambiguous.
 */
export const EVENT_TIMESTAMP_COLUMN = 'event_timestamp';

/**
 * The partition column of every offline table of the feature store: the UTC day of each row's
 * event time, `dt=YYYY-MM-DD/` in the key. Glue projects it (`projection.dt.type=date`, see
 * {@link dayProjection}), so a query that filters on `dt` reads only those days' prefixes, and a
 * new day is queryable the moment its first file exists.
 */
export const DAY_PARTITION = 'dt';

/** The first day the offline tables project; event times before it are refused on append. */
export const FIRST_PROJECTED_DAY = '2000-01-01';

/**
 * The `dt` partition value of an event time (UTC day).
 *
 * @example
 * dayOf(Date.parse('2024-05-01T23:59:59Z')); // '2024-05-01'
 */
export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/**
 * The Glue table parameters that project a table's `dt` partitions from its location (Athena
 * partition projection): no crawler, no `MSCK REPAIR`, no `AddPartition`.
 *
 * @example
 * dayProjection('s3://curated/features/wine_features/')['storage.location.template'];
 * // 's3://curated/features/wine_features/dt=${dt}/'
 */
export function dayProjection(location: string): Record<string, string> {
  const base = location.endsWith('/') ? location : `${location}/`;
  return {
    'projection.enabled': 'true',
    [`projection.${DAY_PARTITION}.type`]: 'date',
    [`projection.${DAY_PARTITION}.format`]: 'yyyy-MM-dd',
    // A day ahead of now: a row stamped a little in the future (clock skew) stays visible.
    [`projection.${DAY_PARTITION}.range`]: `${FIRST_PROJECTED_DAY},NOW+1DAYS`,
    [`projection.${DAY_PARTITION}.interval`]: '1',
    [`projection.${DAY_PARTITION}.interval.unit`]: 'DAYS',
    'storage.location.template': `${base}${DAY_PARTITION}=\${${DAY_PARTITION}}/`,
  };
}
export const CREATED_TIMESTAMP_COLUMN = 'created_timestamp';

// Lower-case snake case: Athena lower-cases identifiers, and the online key uses '#', '=' and '|'
// as separators, so SQL-facing names must not contain them.
const SQL_NAME = /^[a-z_][a-z0-9_]{0,127}$/;
// Entities, push sources and services never reach SQL; allow what Feast users commonly write.
const OBJECT_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;
// The TTL ends up in `INTERVAL '<n>' SECOND`; cap it at 100 years to keep the arithmetic sane.
const MAX_TTL_SECONDS = 100 * 365 * 86_400;

/**
 * Validates definitions and indexes them by name.
 *
 * @throws FeatureDefinitionError listing every problem ("X must be …, but Y was provided").
 * @example
 * const repo = defineRepo({ project: 'demo', entities: [], featureViews: [] });
 * repo.featureViews.size; // 0
 */
export function defineRepo(def: RepoDefinition): FeatureRepo {
  const problems: string[] = [];
  const bad = (what: string, rule: string, got: unknown) =>
    problems.push(`${what} must be ${rule}, but ${JSON.stringify(got)} was provided`);

  if (!OBJECT_NAME.test(def.project)) bad('project', `a name matching ${OBJECT_NAME}`, def.project);

  const entities = indexUnique('entity', def.entities, problems);
  const joinKeys = new Map<string, string>();
  for (const e of def.entities) {
    if (!OBJECT_NAME.test(e.name)) bad(`entity name`, `a name matching ${OBJECT_NAME}`, e.name);
    if (!SQL_NAME.test(e.joinKey))
      bad(`entity ${e.name} joinKey`, `snake_case matching ${SQL_NAME}`, e.joinKey);
    if (!VALUE_TYPES.includes(e.valueType))
      bad(`entity ${e.name} valueType`, VALUE_TYPES.join('|'), e.valueType);
    if (e.valueType === 'FLOAT' || e.valueType === 'DOUBLE') {
      // Floating point keys do not compare reliably between JSON, DynamoDB and Athena.
      bad(`entity ${e.name} valueType`, 'an integer, string or bool type', e.valueType);
    }
    if (e.joinKey === DAY_PARTITION) {
      bad(`entity ${e.name} joinKey`, `other than the offline tables' partition column ${DAY_PARTITION}`, e.joinKey);
    }
    const other = joinKeys.get(e.joinKey);
    if (other) problems.push(`entity ${e.name} reuses join key ${e.joinKey} of entity ${other}`);
    joinKeys.set(e.joinKey, e.name);
  }

  const pushSources = indexUnique('push source', def.pushSources ?? [], problems);
  for (const p of def.pushSources ?? []) {
    if (!OBJECT_NAME.test(p.name)) bad('push source name', `a name matching ${OBJECT_NAME}`, p.name);
    checkLakeTable(`push source ${p.name} batchSource`, p.batchSource, bad);
    // Offline pushes append JSON lines (see offline-writer.ts); a Parquet table would get files it
    // cannot read.
    if (p.batchSource.format !== 'json')
      bad(`push source ${p.name} batchSource.format`, "'json'", p.batchSource.format);
  }

  const featureViews = indexUnique('feature view', def.featureViews, problems);
  for (const v of def.featureViews) checkView(v, entities, pushSources, bad, problems);
  for (const p of def.pushSources ?? []) {
    if (!def.featureViews.some((v) => v.pushSource === p.name)) {
      problems.push(
        `push source ${p.name} must feed at least one feature view, but none names it as pushSource`,
      );
    }
  }

  const featureServices = indexUnique('feature service', def.featureServices ?? [], problems);
  for (const s of def.featureServices ?? []) {
    if (!OBJECT_NAME.test(s.name)) bad('feature service name', `a name matching ${OBJECT_NAME}`, s.name);
    if (s.projections.length === 0) bad(`feature service ${s.name} projections`, 'a non-empty list', []);
    const seen = new Set<string>();
    for (const p of s.projections) {
      const view = featureViews.get(p.featureView);
      if (!view) {
        problems.push(`feature service ${s.name} refers to unknown feature view ${p.featureView}`);
        continue;
      }
      if (seen.has(p.featureView)) problems.push(`feature service ${s.name} projects ${p.featureView} twice`);
      seen.add(p.featureView);
      for (const f of p.features ?? []) {
        if (!view.features.some((vf) => vf.name === f)) {
          problems.push(`feature service ${s.name} refers to unknown feature ${p.featureView}:${f}`);
        }
      }
    }
  }

  if (problems.length > 0) throw new FeatureDefinitionError(problems);
  return { project: def.project, entities, featureViews, pushSources, featureServices };
}

function indexUnique<T extends { name: string }>(kind: string, items: readonly T[], problems: string[]) {
  const map = new Map<string, T>();
  for (const item of items) {
    if (map.has(item.name)) problems.push(`${kind} names must be unique, but ${item.name} is defined twice`);
    map.set(item.name, item);
  }
  return map;
}

type Bad = (what: string, rule: string, got: unknown) => void;

function checkLakeTable(what: string, t: LakeTable, bad: Bad) {
  if (!SQL_NAME.test(t.database)) bad(`${what}.database`, `snake_case matching ${SQL_NAME}`, t.database);
  if (!SQL_NAME.test(t.table)) bad(`${what}.table`, `snake_case matching ${SQL_NAME}`, t.table);
  if (!/^[A-Za-z0-9_=.-]+(\/[A-Za-z0-9_=.-]+)*$/.test(t.location)) {
    bad(`${what}.location`, 'a key prefix without leading or trailing slash', t.location);
  }
  if (t.format !== 'parquet' && t.format !== 'json') bad(`${what}.format`, "'parquet' or 'json'", t.format);
  if (!SQL_NAME.test(t.timestampField))
    bad(`${what}.timestampField`, `snake_case matching ${SQL_NAME}`, t.timestampField);
  if (t.createdTimestampColumn !== undefined && !SQL_NAME.test(t.createdTimestampColumn)) {
    bad(`${what}.createdTimestampColumn`, `snake_case matching ${SQL_NAME}`, t.createdTimestampColumn);
  }
}

function checkView(
  v: FeatureView,
  entities: ReadonlyMap<string, Entity>,
  pushSources: ReadonlyMap<string, PushSource>,
  bad: Bad,
  problems: string[],
) {
  const what = `feature view ${v.name}`;
  if (!SQL_NAME.test(v.name)) bad('feature view name', `snake_case matching ${SQL_NAME}`, v.name);
  if (!Number.isInteger(v.ttlSeconds) || v.ttlSeconds < 0 || v.ttlSeconds > MAX_TTL_SECONDS) {
    bad(`${what} ttlSeconds`, `an integer between 0 (no expiry) and ${MAX_TTL_SECONDS}`, v.ttlSeconds);
  }
  if (v.entities.length === 0)
    bad(`${what} entities`, 'a non-empty list (entity-less views are not supported)', []);
  const keyNames = new Set<string>();
  for (const name of v.entities) {
    const e = entities.get(name);
    if (!e) problems.push(`${what} refers to unknown entity ${name}`);
    else keyNames.add(e.joinKey);
  }
  if (v.features.length === 0) bad(`${what} features`, 'a non-empty list', []);
  const reserved = new Set([
    DAY_PARTITION,
    EVENT_TIMESTAMP_COLUMN,
    CREATED_TIMESTAMP_COLUMN,
    v.source.timestampField,
    v.source.createdTimestampColumn,
  ]);
  const featureNames = new Set<string>();
  for (const f of v.features) {
    if (!SQL_NAME.test(f.name)) bad(`${what} feature name`, `snake_case matching ${SQL_NAME}`, f.name);
    if (!VALUE_TYPES.includes(f.dtype))
      bad(`${what} feature ${f.name} dtype`, VALUE_TYPES.join('|'), f.dtype);
    if (featureNames.has(f.name)) problems.push(`${what} defines feature ${f.name} twice`);
    if (keyNames.has(f.name)) problems.push(`${what} feature ${f.name} has the name of a join key`);
    if (reserved.has(f.name))
      problems.push(`${what} feature ${f.name} has the name of a timestamp or partition column`);
    featureNames.add(f.name);
  }
  checkLakeTable(`${what} source`, v.source, bad);
  if (v.pushSource !== undefined && !pushSources.has(v.pushSource)) {
    problems.push(`${what} refers to unknown push source ${v.pushSource}`);
  }
}

/** The join keys of a view's entities with their types, in the view's entity order. */
export function joinKeysOf(repo: FeatureRepo, view: FeatureView): { name: string; valueType: ValueType }[] {
  return view.entities.map((name) => {
    const e = repo.entities.get(name)!;
    return { name: e.joinKey, valueType: e.valueType };
  });
}

/** The feature views a push source feeds, in definition order. */
export function viewsFedBy(repo: FeatureRepo, pushSource: string): FeatureView[] {
  return [...repo.featureViews.values()].filter((v) => v.pushSource === pushSource);
}

/** Glue column types for each value type (Parquet and JSON SerDe both map them this way). */
export const GLUE_TYPES: Readonly<Record<ValueType, string>> = {
  INT32: 'int',
  INT64: 'bigint',
  FLOAT: 'float',
  DOUBLE: 'double',
  STRING: 'string',
  BOOL: 'boolean',
  UNIX_TIMESTAMP: 'timestamp',
};

/** A Glue column. */
export interface GlueColumn {
  readonly name: string;
  readonly type: string;
}

/** What the CDK stack needs to register one lake table in Glue. */
export interface OfflineTableSpec {
  readonly database: string;
  readonly table: string;
  /** Key prefix inside the offline bucket, ending in '/'. */
  readonly location: string;
  readonly format: 'parquet' | 'json';
  readonly columns: readonly GlueColumn[];
  /** `[{ name: 'dt', type: 'string' }]`: every offline table is partitioned by event day. */
  readonly partitionKeys: readonly GlueColumn[];
}

/**
 * The Glue tables of a repo: each feature view's batch source and each push source's batch table,
 * with their columns (join keys, features, event and created timestamps).
 *
 * @param prefix key prefix of the feature store inside the offline bucket (`OFFLINE_PREFIX`).
 * @example
 * for (const t of offlineTableSpecs(wineRepo, 'features')) {
 *   new glue.CfnTable(this, t.table, { ... t.columns.map((c) => ({ name: c.name, type: c.type })) ... });
 * }
 */
export function offlineTableSpecs(repo: FeatureRepo, prefix = ''): OfflineTableSpec[] {
  const at = (location: string) => `${prefix ? `${prefix.replace(/\/+$/, '')}/` : ''}${location}/`;
  const specs: OfflineTableSpec[] = [];
  for (const v of repo.featureViews.values()) {
    specs.push({
      database: v.source.database,
      table: v.source.table,
      location: at(v.source.location),
      format: v.source.format,
      columns: lakeColumns(v.source, [v], repo),
      partitionKeys: DAY_PARTITION_KEYS,
    });
  }
  for (const p of repo.pushSources.values()) {
    specs.push({
      database: p.batchSource.database,
      table: p.batchSource.table,
      location: at(p.batchSource.location),
      format: p.batchSource.format,
      columns: lakeColumns(p.batchSource, viewsFedBy(repo, p.name), repo),
      partitionKeys: DAY_PARTITION_KEYS,
    });
  }
  return specs;
}

const DAY_PARTITION_KEYS: readonly GlueColumn[] = [{ name: DAY_PARTITION, type: 'string' }];

/** The Glue columns of one view's offline table (Parquet), for the CDK stack. */
export function glueColumns(repo: FeatureRepo, view: FeatureView): GlueColumn[] {
  return lakeColumns(view.source, [view], repo);
}

function lakeColumns(table: LakeTable, views: readonly FeatureView[], repo: FeatureRepo): GlueColumn[] {
  const columns = new Map<string, string>();
  for (const v of views) {
    for (const k of joinKeysOf(repo, v)) columns.set(k.name, GLUE_TYPES[k.valueType]);
  }
  for (const v of views) for (const f of v.features) columns.set(f.name, GLUE_TYPES[f.dtype]);
  columns.set(table.timestampField, 'timestamp');
  if (table.createdTimestampColumn) columns.set(table.createdTimestampColumn, 'timestamp');
  return [...columns].map(([name, type]) => ({ name, type }));
}

/**
 * The DynamoDB online table: one item per (feature view, entity key). Attribute types use
 * DynamoDB's letters, which are also the values of CDK's `AttributeType` enum.
 *
 * Item layout (see online-store.ts):
 *   pk          S  `<feature_view>#<join_key>=<value>[|<join_key>=<value>…]`
 *   view        S  the feature view name
 *   entity      M  join key → value
 *   features    M  feature → value (NULL when the pushed value was null)
 *   event_ts    N  event time, epoch milliseconds
 *   created_ts  N  creation time, epoch milliseconds
 *   expires_at  N  epoch seconds after which DynamoDB may delete the item (views with a TTL)
 *
 * @example
 * new dynamodb.Table(this, 'Online', {
 *   partitionKey: { name: ONLINE_TABLE_SPEC.partitionKey.name, type: dynamodb.AttributeType.STRING },
 *   timeToLiveAttribute: ONLINE_TABLE_SPEC.timeToLiveAttribute,
 *   billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
 * });
 */
export const ONLINE_TABLE_SPEC = {
  partitionKey: { name: 'pk', type: 'S' },
  timeToLiveAttribute: 'expires_at',
  billingMode: 'PAY_PER_REQUEST',
} as const;

/** The features requested of one view. */
export interface FeatureGroup {
  readonly view: FeatureView;
  readonly features: string[];
}

/**
 * Collects requested features by view, views in first-requested order and each feature once:
 * Feast's grouping, which both online serving and training retrieval answer in.
 *
 * @example
 * const groups = new FeatureGroups();
 * groups.addService(repo, repo.featureServices.get('wine_quality_v1')!);
 * groups.list(); // [{ view: wine_features, features: ['alcohol', …] }]
 */
export class FeatureGroups {
  private readonly groups = new Map<string, FeatureGroup>();

  get size(): number {
    return this.groups.size;
  }

  add(view: FeatureView, feature: string): void {
    const g = this.groups.get(view.name) ?? { view, features: [] };
    if (!g.features.includes(feature)) g.features.push(feature);
    this.groups.set(view.name, g);
  }

  /** Every feature of the service's projections (all of a view's when a projection names none). */
  addService(repo: FeatureRepo, service: FeatureService): void {
    for (const p of service.projections) {
      const view = repo.featureViews.get(p.featureView)!;
      for (const f of p.features ?? view.features.map((vf) => vf.name)) this.add(view, f);
    }
  }

  list(): FeatureGroup[] {
    return [...this.groups.values()];
  }
}

