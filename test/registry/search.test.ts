/** The search grammar on its own: a pure function, no engine needed. */
import { describe, expect, it } from 'vitest';
import { MlflowError } from '../../lib/registry';
import { clauseMatches, likeMatches, paginate, parseFilter } from '../../lib/registry/search';

describe('parseFilter', () => {
  it('reads clauses joined by AND, with prefixes, quoting and lists', () => {
    // act
    const clauses = parseFilter(
      "metrics.auc >= 0.9 and params.`model class` = 'Elastic''Net' AND tags.\"team\" IN ('a', 'b') AND name ILIKE 'fr%'",
    );
    // assess
    expect(clauses).toEqual([
      { entity: 'metric', key: 'auc', op: '>=', value: 0.9 },
      { entity: 'param', key: 'model class', op: '=', value: "Elastic'Net" },
      { entity: 'tag', key: 'team', op: 'IN', value: ['a', 'b'] },
      { entity: 'attribute', key: 'name', op: 'ILIKE', value: 'fr%' },
    ]);
  });

  it.each([
    "name = 'a' OR name = 'b'",
    'name =',
    "name ~ 'a'",
    "unknown.thing = 'a'",
    "name = 'a' AND",
    'name = unquoted',
  ])('fails with INVALID_PARAMETER_VALUE on %j', (filter) => {
    expect(() => parseFilter(filter)).toThrowError(MlflowError);
    try {
      parseFilter(filter);
    } catch (error) {
      expect((error as MlflowError).errorCode).toBe('INVALID_PARAMETER_VALUE');
    }
  });
});

describe('matching', () => {
  it('implements LIKE and ILIKE wildcards, escaping regex characters', () => {
    expect(likeMatches('fraud.v2', 'fraud.%', false)).toBe(true);
    expect(likeMatches('fraudXv2', 'fraud.%', false)).toBe(false);
    expect(likeMatches('Fraud', 'fr_ud', false)).toBe(false);
    expect(likeMatches('Fraud', 'fr_ud', true)).toBe(true);
  });

  it('compares numbers numerically and treats a missing key as no match', () => {
    const [gt] = parseFilter('metrics.rmse > 10');
    expect(clauseMatches(gt!, 9.5)).toBe(false);
    expect(clauseMatches(gt!, 10.5)).toBe(true);
    expect(clauseMatches(gt!, undefined)).toBe(false);
  });
});

describe('paginate', () => {
  it('hands out offset tokens until the end', () => {
    const first = paginate([1, 2, 3], 2, undefined);
    expect(first.page).toEqual([1, 2]);
    const second = paginate([1, 2, 3], 2, first.nextPageToken);
    expect(second).toEqual({ page: [3] });
  });

  it('rejects a token that is not one of ours', () => {
    expect(() => paginate([1], 1, '%%%not-base64')).toThrowError(/Invalid page token/);
  });
});
