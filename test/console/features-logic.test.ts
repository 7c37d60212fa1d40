/** TTLs, materialization windows, the lookup form's parsing and the lookup answer's rows. */
import { describe, expect, it } from 'vitest';
import type { FeastFeatureService, FeastFeatureView } from '../../lib/console/api/feast-types';
import { lastWindow, lookupRows, parseEntityValues, serviceJoinKeys, ttlText } from '../../lib/console/logic/features';

const view: FeastFeatureView = {
  spec: {
    name: 'wine_features',
    entityColumns: [{ name: 'wine_id', valueType: 'INT64' }],
    features: [{ name: 'alcohol', valueType: 'DOUBLE' }],
    ttl: '31536000s',
  },
  meta: {
    materializationIntervals: [
      { startTime: '2026-12-02T00:00:00Z', endTime: '2026-12-03T00:00:00Z' },
      { startTime: '2026-12-01T00:00:00Z', endTime: '2026-12-02T00:00:00Z' },
    ],
  },
};

describe('ttlText', () => {
  it.each([
    ['31536000s', '365 d'],
    ['7200s', '2 h'],
    ['90s', '90 s'],
    ['0s', 'no expiry'],
    [undefined, 'no expiry'],
    ['garbage', 'no expiry'],
  ])('%s → %s', (ttl, text) => expect(ttlText(ttl)).toBe(text));
});

describe('lastWindow', () => {
  it('picks the interval that ends last', () => {
    expect(lastWindow(view)).toEqual({ start: '2026-12-02T00:00:00Z', end: '2026-12-03T00:00:00Z' });
  });
  it('is undefined for a view never materialized', () => {
    expect(lastWindow({ spec: { name: 'v' }, meta: {} })).toBeUndefined();
  });
});

describe('serviceJoinKeys', () => {
  it("collects the join keys of the service's views", () => {
    const service: FeastFeatureService = { spec: { name: 's', features: [{ featureViewName: 'wine_features' }] } };
    expect(serviceJoinKeys(service, [view])).toEqual([{ name: 'wine_id', valueType: 'INT64' }]);
  });
});

describe('parseEntityValues', () => {
  it('parses integers, numbers, booleans and strings by the key type', () => {
    expect(parseEntityValues('wine_id', 'INT64', ' 1, 2 ,3')).toEqual({ values: [1, 2, 3] });
    expect(parseEntityValues('x', 'DOUBLE', '1.5,-2')).toEqual({ values: [1.5, -2] });
    expect(parseEntityValues('x', 'BOOL', 'true,false')).toEqual({ values: [true, false] });
    expect(parseEntityValues('x', 'STRING', 'a, b')).toEqual({ values: ['a', 'b'] });
  });
  it.each([
    ['INT64', '1, x', "wine_id must be an integer, but 'x' was provided"],
    ['INT64', '1.5', "wine_id must be an integer, but '1.5' was provided"],
    ['INT64', '99999999999999999999', "wine_id must be an integer, but '99999999999999999999' was provided"],
    ['DOUBLE', 'abc', "wine_id must be a number, but 'abc' was provided"],
    ['BOOL', 'yes', "wine_id must be true or false, but 'yes' was provided"],
    ['INT64', ' , ', 'wine_id must have at least one value, but none was provided'],
  ] as const)('refuses %s %j', (type, text, problem) => {
    expect(parseEntityValues('wine_id', type, text)).toEqual({ problem });
  });
});

describe('lookupRows', () => {
  it('turns the column-wise answer into a row per entity, keys first', () => {
    const rows = lookupRows(
      {
        metadata: { feature_names: ['wine_id', 'alcohol', 'ph'] },
        results: [
          { values: [1, 99], statuses: ['PRESENT', 'PRESENT'] },
          { values: [9.4, null], statuses: ['PRESENT', 'NOT_FOUND'] },
          { values: [3.51, null], statuses: ['PRESENT', 'NOT_FOUND'] },
        ],
      },
      ['wine_id'],
    );
    expect(rows).toEqual([
      { key: 'wine_id=1', cells: [{ feature: 'alcohol', value: 9.4, status: 'PRESENT' }, { feature: 'ph', value: 3.51, status: 'PRESENT' }] },
      { key: 'wine_id=99', cells: [{ feature: 'alcohol', value: null, status: 'NOT_FOUND' }, { feature: 'ph', value: null, status: 'NOT_FOUND' }] },
    ]);
  });
});
