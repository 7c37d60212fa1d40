/** The model-quality core: input and window validation, verdicts, what gets published. */
import { describe, expect, it } from 'vitest';
import {
  deploymentOf,
  evaluateQuality,
  parseQualityInput,
  publishQuality,
  type QualityBelowThresholdDetail,
  QualityInputError,
  type QualityRow,
  qualitySql,
} from '../../lib/quality';

const NOW = new Date('2026-12-04T12:30:00Z');
const T = { rmseMax: 0.9, maeMax: 0.7, r2Min: 0.2, minLabeled: 10 };
const input = parseQualityInput({ model: 'Wine_Quality' }, NOW, 24);
const row = (version: string, labeled: number, rmse: number, mae: number, r2: number | null): QualityRow => ({
  model_version: version,
  labeled: String(labeled),
  rmse: String(rmse),
  mae: String(mae),
  r2: r2 === null ? '' : String(r2),
});

describe('parseQualityInput', () => {
  it('defaults to the last windowHours before now, and lists the days it touches', () => {
    expect(input).toEqual({
      model: 'Wine_Quality',
      deployment: 'wine-quality',
      window: { start: '2026-12-03T12:30:00.000Z', end: '2026-12-04T12:30:00.000Z', days: ['2026-12-03', '2026-12-04'] },
    });
    expect(parseQualityInput({ model: 'm', start: '2026-12-01', end: '2026-12-02' }, NOW, 24).window.days).toEqual(['2026-12-01']);
  });

  it.each([
    [{}, /^model must be a registered model name .* but undefined was provided$/],
    [{ model: 'a b' }, /^model must be a registered model name .* but "a b" was provided$/],
    [{ model: 'm', start: 'yesterday' }, /^start must be an ISO 8601 date or UTC time .* but "yesterday" was provided$/],
    [{ model: 'm', end: '2026-13-45' }, /^end must be an ISO 8601 date or UTC time .* but "2026-13-45" was provided$/],
    [{ model: 'm', start: '2026-12-04', end: '2026-12-04' }, /^start must be before end/],
    [{ model: 'm', start: '2026-01-01', end: '2026-12-01' }, /^the window must be at most 31 days/],
  ])('fails if given %o', (given, message) => {
    expect(() => parseQualityInput(given, NOW, 24)).toThrow(QualityInputError);
    expect(() => parseQualityInput(given, NOW, 24)).toThrow(message);
  });

  it('names the deployment as the serving code does', () => {
    expect(deploymentOf('Wine_Quality.v2')).toBe('wine-quality-v2');
  });
});

describe('qualitySql', () => {
  it("reads only the model's deployment partition and the window's days; names are quoted", () => {
    const sql = qualitySql({ database: 'mlops_local', logTable: 'prediction_log', labelsTable: 'prediction_labels', input });
    expect(sql).toContain(`FROM "mlops_local"."prediction_log"`);
    expect(sql).toContain(`deployment = 'wine-quality' AND dt IN ('2026-12-03', '2026-12-04')`);
    expect(sql).toContain(`ts >= '2026-12-03T12:30:00.000Z' AND ts < '2026-12-04T12:30:00.000Z'`);
    expect(sql).toContain(`model = 'Wine_Quality'`);
    expect(sql).toContain('GROUP BY GROUPING SETS ((version), ())');
  });
});

describe('evaluateQuality', () => {
  it('judges each version with enough labels; the all-versions row comes last', () => {
    const report = evaluateQuality(input, [row('*', 60, 0.8, 0.6, 0.3), row('2', 30, 1.2, 0.8, 0.1), row('1', 30, 0.5, 0.4, 0.5)], T);
    expect(report.status).toBe('below-threshold');
    expect(report.versions.map((v) => [v.version, v.status])).toEqual([
      ['1', 'ok'],
      ['2', 'below-threshold'],
      ['*', 'ok'],
    ]);
    expect(report.versions[1]!.breaches).toEqual(['RMSE 1.2 > rmseMax 0.9', 'MAE 0.8 > maeMax 0.7', 'R2 0.1 < r2Min 0.2']);
    expect(report.message).toBe('Wine_Quality v2: RMSE 1.2 > rmseMax 0.9, MAE 0.8 > maeMax 0.7, R2 0.1 < r2Min 0.2');
  });

  it('says so when nothing is labeled, or too little to judge', () => {
    expect(evaluateQuality(input, [{ model_version: '*', labeled: '0', rmse: '', mae: '', r2: '' }], T)).toMatchObject({
      status: 'no-labels',
      versions: [],
      message: 'no labeled predictions of Wine_Quality from 2026-12-03T12:30:00.000Z to 2026-12-04T12:30:00.000Z: no metrics published',
    });
    expect(evaluateQuality(input, [row('1', 3, 5, 5, null), row('*', 3, 5, 5, null)], T).status).toBe('insufficient-labels');
  });
});

describe('publishQuality', () => {
  it('publishes scores per version and for the model, an event per version below threshold; no scores on too few labels', async () => {
    const published: [string, string | undefined, object][] = [];
    const events: QualityBelowThresholdDetail[] = [];
    const report = evaluateQuality(input, [row('1', 3, 2, 2, -1), row('2', 30, 1.2, 0.8, 0.1), row('*', 33, 1.1, 0.9, 0.05)], T);
    const out = await publishQuality(report, 'staging', {
      metrics: { publish: (m, v, values) => published.push([m, v, values]) },
      events: { put: async (d) => void events.push(...d) },
    });
    expect(published).toEqual([
      ['Wine_Quality', '1', { labeled: 3 }],
      ['Wine_Quality', '2', { labeled: 30, rmse: 1.2, mae: 0.8, r2: 0.1 }],
      ['Wine_Quality', undefined, { labeled: 33, rmse: 1.1, mae: 0.9, r2: 0.05 }],
    ]);
    expect(out.events).toBe(1);
    expect(events).toEqual([
      expect.objectContaining({ environment: 'staging', model: 'Wine_Quality', modelVersion: '2', labeled: 30, rmse: 1.2 }),
    ]);
  });

  it('publishes nothing and puts no event when nothing is labeled', async () => {
    const calls: unknown[] = [];
    const report = evaluateQuality(input, [], T);
    await publishQuality(report, 'local', {
      metrics: { publish: (...a) => calls.push(a) },
      events: { put: async (d) => void calls.push(d) },
    });
    expect(calls).toEqual([]);
  });
});
