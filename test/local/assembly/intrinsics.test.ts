import { describe, expect, it } from 'vitest';
import {
  evaluateCondition,
  IntrinsicError,
  type IntrinsicScope,
  LOCAL_BOOTSTRAP_VERSION,
  resolveIntrinsics,
} from '../../../lib/local/intrinsics';

// A hand-made scope: two resources, one export, a parameter, conditions and a mapping.
const scope: IntrinsicScope = {
  stackName: 'Local-Data',
  region: 'eu-west-1',
  accountId: '000000000000',
  parameters: {
    BootstrapVersion: {
      Type: 'AWS::SSM::Parameter::Value<String>',
      Default: '/cdk-bootstrap/hnb659fds/version',
    },
    Stage: { Type: 'String', Default: 'local' },
    Zones: { Type: 'CommaDelimitedList', Default: 'a,b' },
  },
  conditions: {
    IsLocal: { 'Fn::Equals': [{ Ref: 'Stage' }, 'local'] },
    IsProd: { 'Fn::Equals': [{ Ref: 'Stage' }, 'production'] },
    NotProd: { 'Fn::Not': [{ Condition: 'IsProd' }] },
    Both: { 'Fn::And': [{ Condition: 'IsLocal' }, { Condition: 'NotProd' }] },
    Either: { 'Fn::Or': [{ Condition: 'IsProd' }, { 'Fn::Equals': ['x', 'y'] }] },
  },
  mappings: { Sizes: { local: { Memory: 512 } } },
  ref: (id) => ({ Bucket: 'local-data-bucket', Table: 'local-data-table' })[id],
  getAtt: (id, attr) => {
    if (id === 'Bucket' && attr === 'Arn') return 'arn:aws:s3:::local-data-bucket';
    throw new IntrinsicError(`no ${id}.${attr}`);
  },
  importValue: (name) => {
    if (name === 'LakeBucketName') return 'local-data-bucket';
    throw new IntrinsicError(`nothing exports ${name}`);
  },
};

const r = (v: unknown) => resolveIntrinsics(v, scope);

describe('resolveIntrinsics', () => {
  it('resolves Ref to resources, parameters and pseudo parameters', () => {
    expect(r({ Ref: 'Bucket' })).toBe('local-data-bucket');
    expect(r({ Ref: 'Stage' })).toBe('local');
    expect(r({ Ref: 'Zones' })).toEqual(['a', 'b']);
    expect(r({ Ref: 'AWS::Region' })).toBe('eu-west-1');
    expect(r({ Ref: 'AWS::AccountId' })).toBe('000000000000');
    expect(r({ Ref: 'AWS::Partition' })).toBe('aws');
    expect(r({ Ref: 'AWS::URLSuffix' })).toBe('amazonaws.com');
    expect(r({ Ref: 'AWS::StackName' })).toBe('Local-Data');
  });

  it('resolves an SSM-typed bootstrap version parameter to a version, not the parameter name', () => {
    expect(r({ Ref: 'BootstrapVersion' })).toBe(LOCAL_BOOTSTRAP_VERSION);
  });

  it('drops properties and list items that are Ref AWS::NoValue', () => {
    expect(r({ A: 1, B: { Ref: 'AWS::NoValue' }, C: [1, { Ref: 'AWS::NoValue' }, 2] })).toEqual({
      A: 1,
      C: [1, 2],
    });
  });

  it('fails if a Ref names nothing', () => {
    expect(() => r({ Ref: 'Missing' })).toThrow(
      /Ref 'Missing'.*no resource or parameter in stack Local-Data/,
    );
  });

  it('resolves Fn::GetAtt in both forms and passes unknown attributes to the scope', () => {
    expect(r({ 'Fn::GetAtt': ['Bucket', 'Arn'] })).toBe('arn:aws:s3:::local-data-bucket');
    expect(r({ 'Fn::GetAtt': 'Bucket.Arn' })).toBe('arn:aws:s3:::local-data-bucket');
    expect(() => r({ 'Fn::GetAtt': ['Bucket', 'Nope'] })).toThrow(/Bucket\.Nope/);
  });

  it('resolves Fn::Join, Fn::Select and Fn::Split', () => {
    expect(r({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', { Ref: 'Bucket' }]] })).toBe(
      'arn:aws:s3:::local-data-bucket',
    );
    expect(r({ 'Fn::Select': [1, { 'Fn::Split': ['/', 'a/b/c'] }] })).toBe('b');
    expect(() => r({ 'Fn::Select': [5, ['a']] })).toThrow(/out of range/);
  });

  it('resolves Fn::Sub in the string form, with attributes and escapes', () => {
    expect(r({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::${Bucket}/*' })).toBe(
      'arn:aws:s3:::local-data-bucket/*',
    );
    expect(r({ 'Fn::Sub': '${Bucket.Arn}|${!Literal}|${AWS::Region}' })).toBe(
      'arn:aws:s3:::local-data-bucket|${Literal}|eu-west-1',
    );
  });

  it('resolves Fn::Sub in the list form, where variables shadow resources', () => {
    expect(r({ 'Fn::Sub': ['${Bucket}-${Name}', { Bucket: 'shadow', Name: { Ref: 'Table' } }] })).toBe(
      'shadow-local-data-table',
    );
  });

  it('resolves Fn::ImportValue through the scope and fails for unknown exports', () => {
    expect(r({ 'Fn::ImportValue': 'LakeBucketName' })).toBe('local-data-bucket');
    expect(() => r({ 'Fn::ImportValue': 'Nope' })).toThrow(/nothing exports Nope/);
  });

  it('evaluates conditions with Fn::Equals, Fn::Not, Fn::And, Fn::Or and picks the Fn::If branch', () => {
    expect(evaluateCondition('IsLocal', scope)).toBe(true);
    expect(evaluateCondition('NotProd', scope)).toBe(true);
    expect(evaluateCondition('Both', scope)).toBe(true);
    expect(evaluateCondition('Either', scope)).toBe(false);
    expect(r({ 'Fn::If': ['IsProd', 'big', { 'Fn::If': ['IsLocal', 'small', 'none'] }] })).toBe('small');
    expect(r({ X: { 'Fn::If': ['IsProd', 1, { Ref: 'AWS::NoValue' }] } })).toEqual({});
  });

  it('fails if a condition is not defined', () => {
    expect(() => r({ 'Fn::If': ['Nope', 1, 2] })).toThrow(/Condition 'Nope' is not defined/);
  });

  it('resolves Fn::GetAZs, Fn::FindInMap (with DefaultValue) and Fn::Base64', () => {
    expect(r({ 'Fn::GetAZs': '' })).toEqual(['eu-west-1a', 'eu-west-1b', 'eu-west-1c']);
    expect(r({ 'Fn::FindInMap': ['Sizes', { Ref: 'Stage' }, 'Memory'] })).toBe(512);
    expect(r({ 'Fn::FindInMap': ['Sizes', 'prod', 'Memory', { DefaultValue: 1024 }] })).toBe(1024);
    expect(() => r({ 'Fn::FindInMap': ['Sizes', 'prod', 'Memory'] })).toThrow(/Sizes\.prod\.Memory/);
    expect(Buffer.from(String(r({ 'Fn::Base64': { 'Fn::Sub': '${Bucket}' } })), 'base64').toString()).toBe(
      'local-data-bucket',
    );
  });

  it('leaves objects with several keys alone except for resolving inside them', () => {
    expect(r({ Ref: 'Bucket', Other: 1 })).toEqual({ Ref: 'Bucket', Other: 1 });
  });
});
