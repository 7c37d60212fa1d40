/**
 * The read-only part of Feast's registry REST API (`feast serve_registry --rest-api`, prefix
 * `/api/v1`) over the repo compiled into the feature server: projects, entities, feature views
 * (with each view's last materialization window) and feature services, in the JSON Feast produces
 * from its protobufs (`MessageToDict`: camelCase fields, `ttl` as a `"<n>s"` duration, empty fields
 * left out). The console's Features page reads it; any Feast registry client can too.
 *
 * | route                                   | body                                     |
 * |-----------------------------------------|------------------------------------------|
 * | GET /api/v1/projects                    | `{projects: [{spec, meta}], pagination}` |
 * | GET /api/v1/entities?project=p          | `{entities: [{spec, meta}], pagination}` |
 * | GET /api/v1/feature_views?project=p     | `{featureViews: [{featureView: {spec, meta}}], pagination}` |
 * | GET /api/v1/feature_services?project=p  | `{featureServices: [{spec, meta}], pagination}` |
 *
 * A missing `project` is FastAPI's 422 (`loc: ["query", "project"]`), as in Feast; an unknown
 * project lists nothing, as Feast's registry does.
 */
import { joinKeysOf } from './definitions';
import { RequestValidationError } from './errors';
import type { FeatureRepo, FeatureView, LakeTable } from './types';

/** A view's last recorded materialization window (ISO 8601 UTC), as the materialization machine writes it. */
export interface MaterializationWindow {
  readonly start: string;
  readonly end: string;
}

/** Where the last window of each view is read from (the online table on AWS and locally). */
export interface MaterializationLog {
  /** The last recorded window of each named view; views never materialized are absent. */
  lastWindows(views: readonly string[]): Promise<ReadonlyMap<string, MaterializationWindow>>;
}

/** The registry routes, by path after `/api/v1`. */
export const REGISTRY_PATHS = ['/projects', '/entities', '/feature_views', '/feature_services'] as const;
export type RegistryPath = (typeof REGISTRY_PATHS)[number];

/** The prefix Feast's registry REST server mounts its routes under. */
export const REGISTRY_PREFIX = '/api/v1';

/**
 * Answers one registry route.
 *
 * @throws RequestValidationError (422) when a route that needs `project` lacks it.
 * @example
 * await registryListing(wineRepo, log, '/feature_views', { project: 'mlops_kit' });
 * // { featureViews: [{ featureView: { spec: { name: 'wine_features', ttl: '31536000s', … }, meta: { materializationIntervals: [...] } } }], pagination: {} }
 */
export async function registryListing(
  repo: FeatureRepo,
  log: MaterializationLog | undefined,
  path: RegistryPath,
  query: Readonly<Record<string, string | undefined>>,
): Promise<Record<string, unknown>> {
  if (path === '/projects') {
    return { projects: [{ spec: { name: repo.project }, meta: {} }], pagination: {} };
  }
  const project = query.project;
  if (project === undefined) {
    throw new RequestValidationError([{ type: 'missing', loc: ['query', 'project'], msg: 'Field required', input: null }]);
  }
  const mine = project === repo.project;
  switch (path) {
    case '/entities':
      return { entities: mine ? [...repo.entities.values()].map((e) => ({
        spec: {
          name: e.name,
          valueType: e.valueType,
          joinKey: e.joinKey,
          project: repo.project,
          ...(e.description && { description: e.description }),
        },
        meta: {},
      })) : [], pagination: {} };
    case '/feature_views': {
      const views = mine ? [...repo.featureViews.values()] : [];
      const windows = views.length && log ? await log.lastWindows(views.map((v) => v.name)) : new Map();
      return {
        featureViews: views.map((v) => ({ featureView: featureViewJson(repo, v, windows.get(v.name)) })),
        pagination: {},
      };
    }
    case '/feature_services':
      return {
        featureServices: mine ? [...repo.featureServices.values()].map((s) => ({
          spec: {
            name: s.name,
            project: repo.project,
            features: s.projections.map((p) => {
              const view = repo.featureViews.get(p.featureView)!;
              const wanted = p.features ? new Set(p.features) : undefined;
              return {
                featureViewName: p.featureView,
                featureColumns: view.features
                  .filter((f) => !wanted || wanted.has(f.name))
                  .map((f) => ({ name: f.name, valueType: f.dtype })),
              };
            }),
            ...(s.description && { description: s.description }),
          },
          meta: {},
        })) : [],
        pagination: {},
      };
  }
}

function featureViewJson(repo: FeatureRepo, view: FeatureView, window: MaterializationWindow | undefined) {
  return {
    spec: {
      name: view.name,
      project: repo.project,
      entities: [...view.entities],
      features: view.features.map((f) => ({
        name: f.name,
        valueType: f.dtype,
        ...(f.description && { description: f.description }),
      })),
      entityColumns: joinKeysOf(repo, view).map((k) => ({ name: k.name, valueType: k.valueType })),
      ...(view.description && { description: view.description }),
      // protobuf's Duration in JSON; Feast writes 0 (no expiry) as "0s" too.
      ttl: `${view.ttlSeconds}s`,
      batchSource: batchSourceJson(view.source),
      online: view.online ?? true,
    },
    meta: window ? { materializationIntervals: [{ startTime: window.start, endTime: window.end }] } : {},
  };
}

function batchSourceJson(source: LakeTable) {
  return {
    type: 'BATCH_ATHENA',
    name: source.table,
    timestampField: source.timestampField,
    ...(source.createdTimestampColumn && { createdTimestampColumn: source.createdTimestampColumn }),
    athenaOptions: { database: source.database, table: source.table },
  };
}
