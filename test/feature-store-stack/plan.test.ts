import { describe, expect, it } from 'vitest';
import { defineRepo } from '../../lib/features/definitions';
import { materializationSql } from '../../lib/features/retrieval';
import { handler } from '../../lambdas/materialize-plan';
import {
  InvalidMaterializationInput,
  lakeRelation,
  materializationRecordKey,
  planMaterialization,
} from '../../lib/features/stack-support';
import { wineFeatures, wineRepo } from '../../lib/features/wine';

const context = { database: 'mlops_test', now: new Date('2024-06-01T12:00:00.000Z') };
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

  it('renders the same SQL as materializationSql over the lake database', () => {
    const plan = planMaterialization(
      wineRepo,
      { start: '2024-01-01T00:00:00Z', end: '2024-01-02T00:00:00+02:00', featureView: 'wine_features' },
      context,
    );

    expect(plan.views).toHaveLength(1);
    const view = plan.views[0]!;
    expect(view).toMatchObject({ start: '2024-01-01T00:00:00.000Z', end: '2024-01-01T22:00:00.000Z' });
    expect(view.sql).toBe(
      materializationSql({
        repo: wineRepo,
        featureView: 'wine_features',
        start: new Date('2024-01-01T00:00:00Z'),
        end: new Date('2024-01-01T22:00:00Z'),
        relationOf: lakeRelation('mlops_test'),
      }),
    );
    expect(view.sql).toContain('FROM "mlops_test"."wine_features"\n');
    expect(view.sql).toContain('FROM "mlops_test"."wine_features_push"\n');
    expect(view.sql).not.toContain('"features".');
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
  it('takes the default end from the execution start time', async () => {
    const plan = await handler({
      input: { featureView: 'wine_features' },
      executionStartTime: '2024-06-01T12:00:00.123Z',
      database: 'mlops_local',
    });

    expect(plan.end).toBe('2024-06-01T12:00:00.123Z');
    expect(plan.views[0]!.sql).toContain('"mlops_local"."wine_features"');
  });

  it('fails with the error name the state machine reports', async () => {
    await expect(
      handler({
        input: { end: 'soon' },
        executionStartTime: '2024-06-01T12:00:00Z',
        database: 'mlops_local',
      }),
    ).rejects.toMatchObject({ name: 'InvalidMaterializationInput' });
  });
});

describe('materializationRecordKey', () => {
  it('cannot collide with a feature row key (view names are lower-case snake_case)', () => {
    expect(materializationRecordKey('wine_features')).toBe('MATERIALIZATION#wine_features');
    expect(materializationRecordKey('wine_features')).not.toMatch(/^[a-z_][a-z0-9_]*#/);
  });
});
