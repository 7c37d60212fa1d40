/**
 * The local EventBridge pattern matcher: each operator with matching and non-matching events, as
 * EventBridge documents them, and patterns EventBridge would refuse refused at compile time.
 */
import { describe, expect, it } from 'vitest';
import { compilePattern, EventPatternError, matches } from '../../../lib/local/event-pattern';

const event = {
  version: '0',
  source: 'mlops-kit.registry',
  'detail-type': 'ModelVersionPromoted',
  account: '000000000000',
  resources: ['arn:aws:s3:::a', 'arn:aws:s3:::b'],
  detail: {
    modelName: 'wine-quality',
    version: '3',
    stage: 'Production',
    alias: null,
    rmse: 0.61,
    tags: ['blue', 'green'],
    source: { ip: '10.0.3.7', uri: 's3://lake/models/3/model.tar.gz' },
  },
};

describe('event patterns', () => {
  it.each([
    ['exact string', { source: ['mlops-kit.registry'] }, true],
    ['exact string, other value', { source: ['aws.s3'] }, false],
    ['any of several values', { source: ['aws.s3', 'mlops-kit.registry'] }, true],
    ['nested exact', { detail: { stage: ['Production'] } }, true],
    ['nested, field absent', { detail: { nope: ['x'] } }, false],
    ['null literal', { detail: { alias: [null] } }, true],
    ['number literal', { detail: { rmse: [0.61] } }, true],
    ['string is not a number', { detail: { version: [3] } }, false],
    ['array field: any element', { detail: { tags: ['green'] } }, true],
    ['array field: no element', { detail: { tags: ['red'] } }, false],
    ['array field at top level', { resources: ['arn:aws:s3:::b'] }, true],
    ['prefix', { detail: { source: { uri: [{ prefix: 's3://lake/' }] } } }, true],
    ['prefix, no match', { detail: { source: { uri: [{ prefix: 's3://other/' }] } } }, false],
    ['prefix ignoring case', { source: [{ prefix: { 'equals-ignore-case': 'MLOPS-' } }] }, true],
    ['suffix', { detail: { source: { uri: [{ suffix: '.tar.gz' }] } } }, true],
    ['suffix, no match', { detail: { source: { uri: [{ suffix: '.zip' }] } } }, false],
    ['equals-ignore-case', { 'detail-type': [{ 'equals-ignore-case': 'modelversionpromoted' }] }, true],
    ['wildcard', { detail: { source: { uri: [{ wildcard: 's3://*/models/*/model.tar.gz' }] } } }, true],
    ['wildcard, no match', { detail: { source: { uri: [{ wildcard: 's3://*/runs/*' }] } } }, false],
    ['wildcard treats regex characters literally', { source: [{ wildcard: 'mlops-kit.regis*' }] }, true],
    ['wildcard ? is no operator', { source: [{ wildcard: 'mlops-kit?registry' }] }, false],
    ['anything-but a value', { detail: { stage: [{ 'anything-but': 'Archived' }] } }, true],
    ['anything-but that value', { detail: { stage: [{ 'anything-but': 'Production' }] } }, false],
    ['anything-but a list', { detail: { stage: [{ 'anything-but': ['Staging', 'Production'] }] } }, false],
    ['anything-but a prefix', { source: [{ 'anything-but': { prefix: 'aws.' } }] }, true],
    ['anything-but that prefix', { source: [{ 'anything-but': { prefix: 'mlops-' } }] }, false],
    ['anything-but does not match an absent field', { detail: { nope: [{ 'anything-but': 'x' }] } }, false],
    ['numeric range', { detail: { rmse: [{ numeric: ['>', 0, '<=', 0.8] }] } }, true],
    ['numeric out of range', { detail: { rmse: [{ numeric: ['<', 0.5] }] } }, false],
    ['numeric equality', { detail: { rmse: [{ numeric: ['=', 0.61] }] } }, true],
    ['numeric never matches a string', { detail: { version: [{ numeric: ['>', 0] }] } }, false],
    ['exists true', { detail: { stage: [{ exists: true }] } }, true],
    ['exists true, absent', { detail: { nope: [{ exists: true }] } }, false],
    ['exists true on an object is no leaf', { detail: { source: [{ exists: true }] } }, false],
    ['exists false, absent', { detail: { nope: [{ exists: false }] } }, true],
    ['exists false, present', { detail: { stage: [{ exists: false }] } }, false],
    ['exists false under an absent parent', { nope: { deeper: [{ exists: false }] } }, true],
    ['cidr', { detail: { source: { ip: [{ cidr: '10.0.0.0/16' }] } } }, true],
    ['cidr, outside', { detail: { source: { ip: [{ cidr: '10.1.0.0/16' }] } } }, false],
    ['$or, second branch', { detail: { $or: [{ stage: ['Staging'] }, { modelName: ['wine-quality'] }] } }, true],
    ['$or, no branch', { detail: { $or: [{ stage: ['Staging'] }, { alias: ['champion'] }] } }, false],
    ['every field must match', { source: ['mlops-kit.registry'], 'detail-type': ['Other'] }, false],
    ['the empty pattern matches everything', {}, true],
  ])('%s', (_name, pattern, expected) => {
    expect(matches(pattern, event)).toBe(expected);
  });

  it("matches the kit's promotion rule as the registry emits its events", () => {
    // The pattern of the serving stack's OnPromotion rule, as CloudFormation holds it.
    const promoted = compilePattern(
      JSON.stringify({
        source: ['mlops-kit.registry'],
        'detail-type': ['ModelVersionPromoted'],
        detail: { $or: [{ stage: ['Production'] }, { alias: ['champion'] }] },
      }),
    );
    const base = { source: 'mlops-kit.registry', 'detail-type': 'ModelVersionPromoted' };
    expect(promoted({ ...base, detail: { stage: 'Production' } })).toBe(true);
    expect(promoted({ ...base, detail: { alias: 'champion' } })).toBe(true);
    expect(promoted({ ...base, detail: { stage: 'Staging' } })).toBe(false);
    expect(promoted({ ...base, detail: { alias: 'challenger' } })).toBe(false);
    expect(promoted({ ...base, 'detail-type': 'ModelVersionCreated', detail: { stage: 'Production' } })).toBe(false);
    expect(promoted({ source: 'other', 'detail-type': 'ModelVersionPromoted', detail: { stage: 'Production' } })).toBe(false);
    expect(promoted('not an event')).toBe(false);
  });

  it.each([
    ['a pattern that is not an object', ['source'], /must be a JSON object, but \["source"\] was provided/],
    ['JSON that does not parse', '{"source":', /must be JSON/],
    ['a field that is a bare value', { source: 'x' }, /source must be a list of values or an object, but "x" was provided/],
    ['an empty list', { source: [] }, /source must list at least one value/],
    ['an unknown operator', { source: [{ regex: '.*' }] }, /source\[0\] must use one of .*, but 'regex' was provided/],
    ['two operators in one condition', { source: [{ prefix: 'a', suffix: 'b' }] }, /one operator/],
    ['exists that is not a boolean', { source: [{ exists: 'yes' }] }, /exists must be true or false/],
    ['numeric without a number', { n: [{ numeric: ['>', '5'] }] }, /numeric must pair an operator/],
    ['numeric with an odd list', { n: [{ numeric: ['>'] }] }, /numeric must be one or two/],
    ['a bad cidr', { ip: [{ cidr: '10.0.0.0/33' }] }, /cidr must be an IPv4 CIDR block/],
    ['$or with one branch', { $or: [{ a: ['x'] }] }, /\$or must be a list of at least two objects/],
    ['anything-but of an object list', { a: [{ 'anything-but': [{}] }] }, /anything-but must be a string, a number or a list/],
  ])('refuses %s', (_name, pattern, message) => {
    expect(() => compilePattern(pattern)).toThrow(EventPatternError);
    expect(() => compilePattern(pattern)).toThrow(message);
  });
});
