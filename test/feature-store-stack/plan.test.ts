import { describe, expect, it, vi } from 'vitest';
import { defineRepo } from '../../lib/features/definitions';
import { materializationSql } from '../../lib/features/retrieval';
import {
  InvalidMaterializationInput,
  InvalidMaterializationState,
  lakeRelation,
  materializationRecordKey,
  planMaterialization,
} from '../../lib/features/stack-support';
import { wineFeatures, wineRepo } from '../../lib/features/wine';
import { unloadAt } from '../../lib/shared/unload';

const context = {
  database: 'mlops_test',
  now: new Date('2024-06-01T12:00:00.000Z'),
  unloadLocation: 's3://lake-curated/materialize/unload/',
  execution: 'run-1',
  recorded: new Map<string, Record<string, unknown>>(),
};
const YEAR_MS = 365 * 86_400_000;

describe('planMaterialization', () => {
  it('defaults the window to the TTL before the execution start, for every online view', () => {
    // Act
    const plan = planMaterialization(wineRepo, {}, context);

    // Assess
    expect(plan.start).toBeNull();
    expect(plan.end).toBe('2024-06-01T12:00:00.000Z');
    expect(plan.views.map((v) => [v.featureView, v.start, v.end])).toEqual([
      ['wine_features', new Date(context.now.getTime() - YEAR_MS).toISOString(), '2024-06-01T12:00:00.000Z'],
    ]);
  });

  it('renders the UNLOAD of materializationSql over the lake database, pruned to the window days', () => {
    const plan = planMaterialization(
      wineRepo,
      { start: '2024-01-01T00:00:00Z', end: '2024-01-02T00:00:00+02:00', featureView: 'wine_features' },
      context,
    );

    expect(plan.views).toHaveLength(1);
    const view = plan.views[0]!;
    expect(view).toMatchObject({
      start: '2024-01-01T00:00:00.000Z',
      end: '2024-01-01T22:00:00.000Z',
      from: 'input',
      unloadLocation: 's3://lake-curated/materialize/unload/run-1/wine_features/',
      unloadBucket: 'lake-curated',
      unloadPrefix: 'materialize/unload/run-1/wine_features/',
    });
    const select = materializationSql({
      repo: wineRepo,
      featureView: 'wine_features',
      start: new Date('2024-01-01T00:00:00Z'),
      end: new Date('2024-01-01T22:00:00Z'),
      relationOf: lakeRelation('mlops_test'),
      dayPartition: 'dt',
    });
    // Cut around the attempt's folder, which the Unload Task names (lib/shared/unload.ts).
    const sql = unloadAt(view.unload, 'attempt-0-1');
    expect(sql).toBe(
      `UNLOAD (\n${select}\n) TO 's3://lake-curated/materialize/unload/run-1/wine_features/attempt-0-1/' WITH (format = 'JSON')`,
    );
    expect(view.unload.location).toBe(view.unloadLocation);
    expect(sql).toContain(`FROM "mlops_test"."wine_features"\n  WHERE "dt" BETWEEN '2024-01-01' AND '2024-01-01'`);
    expect(sql).toContain('FROM "mlops_test"."wine_features_push"\n  WHERE "dt" BETWEEN');
    expect(sql).not.toContain('"features".');
  });

  it('starts each view at its recorded window end (incremental), cut at the TTL', () => {
    const recorded = new Map([['wine_features', { window_end: '2024-06-01T10:00:00.000Z' }]]);

    const plan = planMaterialization(wineRepo, {}, { ...context, recorded });

    expect(plan.views.map((v) => [v.from, v.start, v.end])).toEqual([
      ['recorded', '2024-06-01T10:00:00.000Z', '2024-06-01T12:00:00.000Z'],
    ]);
    expect(plan.views[0]!.unload.head).toContain(`BETWEEN '2024-06-01' AND '2024-06-01'`);
    // A record older than the TTL: the window still reaches back no further than the TTL.
    const old = planMaterialization(wineRepo, {}, {
      ...context,
      recorded: new Map([['wine_features', { window_end: '2020-01-01T00:00:00Z' }]]),
    });
    expect(old.views[0]!.start).toBe(new Date(context.now.getTime() - YEAR_MS).toISOString());
  });

  it('plans nothing for a view whose recorded window already reaches the end', () => {
    const recorded = new Map([['wine_features', { window_end: '2024-06-01T12:00:00.000Z' }]]);

    const plan = planMaterialization(wineRepo, {}, { ...context, recorded });

    expect(plan.views).toEqual([]);
    expect(plan.upToDate).toEqual(['wine_features']);
  });

  it('ignores the recorded window when a start is given (a backfill)', () => {
    const recorded = new Map([['wine_features', { window_end: 'garbage' }]]);

    const plan = planMaterialization(wineRepo, { start: '2024-05-01T00:00:00Z' }, { ...context, recorded });

    expect(plan.views[0]).toMatchObject({ from: 'input', start: '2024-05-01T00:00:00.000Z' });
  });

  it.each([
    ['a number', { window_end: 1717236000000 }],
    ['a zone-less time', { window_end: '2024-06-01T10:00:00' }],
    ['nothing', { window_start: '2024-06-01T10:00:00Z' }],
    ['not a time', { window_end: 'yesterday' }],
  ])('fails with InvalidMaterializationState when the recorded window_end is %s', (_, record) => {
    const recorded = new Map([['wine_features', record]]);
    const plan = () => planMaterialization(wineRepo, {}, { ...context, recorded });
    expect(plan).toThrow(InvalidMaterializationState);
    expect(plan).toThrow(
      /the recorded window of wine_features \(online table item pk=MATERIALIZATION#wine_features\) is unusable: window_end .* is not an ISO 8601 time/,
    );
  });

  it.each([
    ['an execution name with a slash', { execution: 'a/b' }, /the execution name must be 1-80 letters/],
    ['an UNLOAD location without a trailing slash', { unloadLocation: 's3://b/x' }, /the UNLOAD location must be an s3:\/\/bucket\/prefix\//],
    ['an UNLOAD location that is not S3', { unloadLocation: 'file:///tmp/' }, /the UNLOAD location must be/],
  ])('fails with InvalidMaterializationInput for %s', (_, change, message) => {
    expect(() => planMaterialization(wineRepo, {}, { ...context, ...change })).toThrow(message);
  });

  it('reports the start the query applies when the TTL cuts the requested window', () => {
    const plan = planMaterialization(
      wineRepo,
      { start: '2000-01-01T00:00:00Z', end: '2024-01-01T00:00:00Z' },
      context,
    );

    expect(plan.start).toBe('2000-01-01T00:00:00.000Z');
    expect(plan.views[0]!.start).toBe(new Date(Date.parse('2024-01-01T00:00:00Z') - YEAR_MS).toISOString());
  });

  it('starts at the epoch for a view without a TTL, and skips offline-only views', () => {
    const repo = defineRepo({
      project: 'p',
      entities: [{ name: 'wine', joinKey: 'wine_id', valueType: 'INT64' }],
      featureViews: [
        { ...wineFeatures, name: 'forever', ttlSeconds: 0, pushSource: undefined },
        { ...wineFeatures, name: 'offline_only', online: false, pushSource: undefined },
      ],
    });

    const plan = planMaterialization(repo, {}, context);

    expect(plan.views.map((v) => [v.featureView, v.start])).toEqual([
      ['forever', '1970-01-01T00:00:00.000Z'],
    ]);
  });

  it.each([
    [
      'an injection attempt in start',
      { start: "2024-01-01' OR 1=1 --" },
      /start: start must be an ISO 8601 timestamp/,
    ],
    [
      'a zone-less timestamp',
      { end: '2024-01-01T00:00:00' },
      /end: end must be an ISO 8601 timestamp with a zone/,
    ],
    ['a date without a time', { start: '2024-01-01' }, /start must be an ISO 8601 timestamp/],
    ['an unknown key', { stat: '2024-01-01T00:00:00Z' }, /Unrecognized key: "stat"/],
    ['a non-object input', 'yesterday', /expected object/],
    ['a wrong-typed featureView', { featureView: 7 }, /featureView: .*expected string/],
    ['an oversized input', { featureView: 'x'.repeat(100_000) }, /featureView must be one of wine_features/],
    [
      'start at end',
      { start: '2024-01-01T00:00:00Z', end: '2024-01-01T00:00:00Z' },
      /start must be before end/,
    ],
    [
      'an unknown view',
      { featureView: 'nope' },
      /featureView must be one of wine_features, but 'nope' was provided/,
    ],
  ])('fails with InvalidMaterializationInput for %s', (_, input, message) => {
    expect(() => planMaterialization(wineRepo, input, context)).toThrow(InvalidMaterializationInput);
    expect(() => planMaterialization(wineRepo, input, context)).toThrow(message);
  });

  it('fails if the lake database is not a Glue name', () => {
    expect(() => planMaterialization(wineRepo, {}, { ...context, database: 'x"; DROP' })).toThrow(
      /the lake database must match/,
    );
  });
});

describe('the plan handler', () => {
  it('fails with the error name the state machine reports, before reading anything', async () => {
    vi.stubEnv('ONLINE_TABLE_NAME', 'online');
    const { handler } = await import('../../lambdas/materialize-plan');
    await expect(
      handler({
        input: { end: 'soon' },
        executionStartTime: '2024-06-01T12:00:00Z',
        execution: 'run-1',
        database: 'mlops_local',
        unloadLocation: 's3://lake-curated/materialize/unload/',
      }),
    ).rejects.toMatchObject({ name: 'InvalidMaterializationInput' });
    await expect(handler({ input: {} })).rejects.toThrow(/"Plan" was invoked with a malformed event: executionStartTime/);
    await expect(handler(null)).rejects.toMatchObject({ name: 'InvalidMaterializationInput' });
  });
});

describe('materializationRecordKey', () => {
  it('cannot collide with a feature row key (view names are lower-case snake_case)', () => {
    expect(materializationRecordKey('wine_features')).toBe('MATERIALIZATION#wine_features');
    expect(materializationRecordKey('wine_features')).not.toMatch(/^[a-z_][a-z0-9_]*#/);
  });
});
