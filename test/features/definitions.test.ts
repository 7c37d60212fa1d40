/**
 * Definition validation and the infrastructure facts derived from definitions.
 */
import { describe, expect, it } from 'vitest';
import {
  defineRepo,
  FeatureDefinitionError,
  glueColumns,
  ONLINE_TABLE_SPEC,
  offlineTableSpecs,
} from '../../lib/features/definitions';
import type { RepoDefinition } from '../../lib/features/types';
import { WINE_FEATURE_NAMES, wineFeatures, wineRepo } from '../../lib/features/wine';

const base: RepoDefinition = {
  project: 'p',
  entities: [{ name: 'driver', joinKey: 'driver_id', valueType: 'INT64' }],
  featureViews: [
    {
      name: 'stats',
      entities: ['driver'],
      ttlSeconds: 3600,
      features: [{ name: 'rate', dtype: 'FLOAT' }],
      source: {
        database: 'lake',
        table: 'stats',
        location: 'stats',
        format: 'parquet',
        timestampField: 'ts',
      },
      pushSource: 'push',
    },
  ],
  pushSources: [
    {
      name: 'push',
      batchSource: {
        database: 'lake',
        table: 'stats_push',
        location: 'stats_push',
        format: 'json',
        timestampField: 'ts',
      },
    },
  ],
  featureServices: [{ name: 'svc', projections: [{ featureView: 'stats' }] }],
};

/** The problems `defineRepo` reports for a definition. */
function problemsOf(def: RepoDefinition): readonly string[] {
  try {
    defineRepo(def);
  } catch (err) {
    if (err instanceof FeatureDefinitionError) return err.problems;
    throw err;
  }
  return [];
}

const view = base.featureViews[0]!;

describe('defineRepo', () => {
  it('accepts a valid repo and indexes it by name', () => {
    const repo = defineRepo(base);
    expect(repo.featureViews.get('stats')?.ttlSeconds).toBe(3600);
    expect(repo.featureServices.has('svc')).toBe(true);
  });

  it.each<[string, RepoDefinition, RegExp]>([
    [
      'duplicate view names',
      { ...base, featureViews: [view, view] },
      /feature view names must be unique, but stats is defined twice/,
    ],
    [
      'duplicate entity names',
      { ...base, entities: [base.entities[0]!, base.entities[0]!] },
      /entity names must be unique/,
    ],
    [
      'duplicate features',
      { ...base, featureViews: [{ ...view, features: [view.features[0]!, view.features[0]!] }] },
      /defines feature rate twice/,
    ],
    [
      'unknown view in a service',
      { ...base, featureServices: [{ name: 'svc', projections: [{ featureView: 'nope' }] }] },
      /feature service svc refers to unknown feature view nope/,
    ],
    [
      'unknown feature in a service',
      {
        ...base,
        featureServices: [{ name: 'svc', projections: [{ featureView: 'stats', features: ['x'] }] }],
      },
      /unknown feature stats:x/,
    ],
    [
      'negative TTL',
      { ...base, featureViews: [{ ...view, ttlSeconds: -1 }] },
      /ttlSeconds must be an integer between 0 \(no expiry\) and \d+, but -1 was provided/,
    ],
    [
      'fractional TTL',
      { ...base, featureViews: [{ ...view, ttlSeconds: 1.5 }] },
      /ttlSeconds must be an integer/,
    ],
    [
      'NaN TTL',
      { ...base, featureViews: [{ ...view, ttlSeconds: Number.NaN }] },
      /ttlSeconds must be an integer/,
    ],
    [
      'unknown entity',
      { ...base, featureViews: [{ ...view, entities: ['rider'] }] },
      /refers to unknown entity rider/,
    ],
    [
      'unknown push source',
      { ...base, featureViews: [{ ...view, pushSource: 'nope' }] },
      /unknown push source nope/,
    ],
    [
      'parquet push table',
      {
        ...base,
        pushSources: [
          { name: 'push', batchSource: { ...base.pushSources![0]!.batchSource, format: 'parquet' } },
        ],
      },
      /batchSource.format must be 'json'/,
    ],
    [
      'feature named like a join key',
      { ...base, featureViews: [{ ...view, features: [{ name: 'driver_id', dtype: 'FLOAT' }] }] },
      /has the name of a join key/,
    ],
    [
      'feature named like the timestamp',
      { ...base, featureViews: [{ ...view, features: [{ name: 'ts', dtype: 'FLOAT' }] }] },
      /has the name of a timestamp or partition column/,
    ],
    [
      'non-snake-case feature',
      { ...base, featureViews: [{ ...view, features: [{ name: 'Rate-1', dtype: 'FLOAT' }] }] },
      /feature name must be snake_case/,
    ],
    [
      'float join key',
      { ...base, entities: [{ name: 'driver', joinKey: 'driver_id', valueType: 'FLOAT' }] },
      /an integer, string or bool type/,
    ],
    [
      'location with a leading slash',
      { ...base, featureViews: [{ ...view, source: { ...view.source, location: '/stats' } }] },
      /location must be a key prefix/,
    ],
  ])('fails if %s', (_name, def, message) => {
    const problems = problemsOf(def);
    expect(
      problems.some((p) => message.test(p)),
      problems.join('\n'),
    ).toBe(true);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf({
      ...base,
      featureViews: [{ ...view, ttlSeconds: -1, entities: ['rider'] }],
    });
    expect(problems.length).toBeGreaterThanOrEqual(2);
  });
});

describe('wine repo', () => {
  it('defines the 11 snake_case FLOAT features keyed by wine_id', () => {
    expect(wineFeatures.features.map((f) => [f.name, f.dtype])).toEqual(
      WINE_FEATURE_NAMES.map((n) => [n, 'FLOAT']),
    );
    expect(wineRepo.entities.get('wine')).toMatchObject({ joinKey: 'wine_id', valueType: 'INT64' });
    expect(wineRepo.pushSources.has('wine_push')).toBe(true);
    expect(wineRepo.featureServices.get('wine_quality_v1')?.projections).toEqual([
      { featureView: 'wine_features' },
    ]);
    expect(wineFeatures.ttlSeconds).toBeGreaterThan(0);
  });

  it('gives the Glue columns of the Parquet table: key, features, timestamps', () => {
    expect(glueColumns(wineRepo, wineFeatures)).toEqual([
      { name: 'wine_id', type: 'bigint' },
      ...WINE_FEATURE_NAMES.map((name) => ({ name, type: 'float' })),
      { name: 'event_timestamp', type: 'timestamp' },
      { name: 'created', type: 'timestamp' },
    ]);
  });

  it('lists both lake tables with locations under the prefix', () => {
    const specs = offlineTableSpecs(wineRepo, 'features/');
    expect(specs.map((s) => [s.database, s.table, s.location, s.format])).toEqual([
      ['features', 'wine_features', 'features/wine_features/', 'parquet'],
      ['features', 'wine_features_push', 'features/wine_features_push/', 'json'],
    ]);
  });
});

it('ONLINE_TABLE_SPEC is a string partition key pk with TTL attribute expires_at', () => {
  expect(ONLINE_TABLE_SPEC.partitionKey).toEqual({ name: 'pk', type: 'S' });
  expect(ONLINE_TABLE_SPEC.timeToLiveAttribute).toBe('expires_at');
});
