/**
 * The drift input and window rules, in process: defaults, the sentence each bad input gets, and
 * the days a window's query names (so Athena reads only those partitions).
 */
import { describe, expect, it } from 'vitest';
import { DriftInputError } from '../../lib/drift';
import { parseDriftInput, windowDays, windowQuery } from '../../lib/pipelines/drift-plan';

const NOW = new Date('2026-12-04T10:30:00.000Z');

describe('parseDriftInput', () => {
  it('defaults to the day before now, and before end when only end is given', () => {
    expect(parseDriftInput({ model: 'wine-quality' }, NOW)).toEqual({
      model: 'wine-quality',
      start: new Date('2026-12-03T10:30:00.000Z'),
      end: NOW,
    });
    expect(parseDriftInput({ model: 'm', end: '2026-12-02' }, NOW).start).toEqual(new Date('2026-12-01T00:00:00Z'));
    expect(parseDriftInput({ model: 'm', version: 3 }, NOW).version).toBe('3');
  });

  it.each([
    [null, /the drift input must be a JSON object/],
    [{}, /model must be a registered model's name .* but nothing was provided/],
    [{ model: "x'; DROP" }, /model must be a registered model's name/],
    [{ model: 'm', version: '0' }, /version must be a model version number/],
    [{ model: 'm', stage: 'Archived' }, /stage must be one of Production, Staging, but "Archived"/],
    [{ model: 'm', version: '1', stage: 'Production' }, /give version or stage, not both/],
    [{ model: 'm', start: '2026-12-04T10:00:00' }, /start must be an ISO 8601 date or UTC timestamp/],
    [{ model: 'm', start: '2026-12-02', end: '2026-12-02' }, /end must be after start, but start 2026-12-02T00:00:00.000Z and end 2026-12-02T00:00:00.000Z/],
    [{ model: 'm', start: '2026-10-01', end: '2026-12-01' }, /the window must be at most 31 days, but 61.0 days/],
    [{ model: 'm', window: 'day' }, /but window was provided/],
  ])('fails if the input is %j', (input, message) => {
    expect(() => parseDriftInput(input, NOW)).toThrow(DriftInputError);
    expect(() => parseDriftInput(input, NOW)).toThrow(message);
  });
});

describe('the window query', () => {
  it('names every day the window touches, and no other', () => {
    expect(windowDays(new Date('2026-12-01T23:00:00Z'), new Date('2026-12-02T00:00:00Z'))).toEqual(['2026-12-01']);
    expect(windowDays(new Date('2026-12-01T23:00:00Z'), new Date('2026-12-03T00:00:01Z'))).toEqual(['2026-12-01', '2026-12-02', '2026-12-03']);
  });

  it('filters on the injected partitions, the days, the timestamps and prediction lines', () => {
    const sql = windowQuery({
      log: { database: 'db', table: 'prediction_log' },
      deployment: 'wine-quality',
      version: '2',
      features: ["it's"],
      start: new Date('2026-12-01T00:00:00Z'),
      end: new Date('2026-12-03T00:00:00Z'),
    });
    expect(sql).toContain(`"deployment" = 'wine-quality' AND "version" = '2' AND "dt" BETWEEN '2026-12-01' AND '2026-12-02'`);
    expect(sql).toContain(`"ts" >= '2026-12-01T00:00:00.000Z' AND "ts" < '2026-12-03T00:00:00.000Z' AND "kind" IS NULL`);
    expect(sql).toContain(`CAST("features"['it''s'] AS DOUBLE) AS "c0", CAST("prediction" AS DOUBLE) AS "c1"`);
    expect(sql).toContain('GROUP BY GROUPING SETS (("c0"), ("c1"))');
  });
});
