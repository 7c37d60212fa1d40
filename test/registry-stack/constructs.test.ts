/** The registry stack's constructs in a bare stack: the table from its spec, the caller roles. */
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { describe, expect, it } from 'vitest';
import { FEATURE_FLAGS } from '../../lib/config';
import { ApiCallerRole } from '../../lib/constructs/api-caller-role';
import { MlopsApi } from '../../lib/constructs/mlops-api';
import { RegistryTable } from '../../lib/constructs/registry-table';
import { REGISTRY_TABLE_SPEC } from '../../lib/shared/registry-table-spec';

const stack = () => new Stack(new App({ context: FEATURE_FLAGS }), 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });

describe('RegistryTable', () => {
  it('is keyed and indexed by the spec, encrypted with the given key, protected where retained', () => {
    const s = stack();
    new RegistryTable(s, 'Table', { encryptionKey: new kms.Key(s, 'Key'), pointInTimeRecovery: true, environmentName: 'production' });
    Template.fromStack(s).hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        DeletionProtectionEnabled: true,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS' }),
        GlobalSecondaryIndexes: [Match.objectLike({ IndexName: REGISTRY_TABLE_SPEC.globalSecondaryIndexes[0]!.indexName })],
      }),
    });
  });

  it('acknowledges missing point-in-time recovery only where the table is disposable', () => {
    const s = stack();
    const key = new kms.Key(s, 'Key');
    const disposable = new RegistryTable(s, 'Disposable', { encryptionKey: key, pointInTimeRecovery: false, environmentName: 'staging', removalPolicy: RemovalPolicy.DESTROY });
    const kept = new RegistryTable(s, 'Kept', { encryptionKey: key, pointInTimeRecovery: false, environmentName: 'production' });
    expect(JSON.stringify(disposable.node.metadata)).toContain('AwsSolutions-DDB3');
    expect(JSON.stringify(kept.node.metadata)).not.toContain('AwsSolutions-DDB3');
  });
});

describe('ApiCallerRole', () => {
  it('may only invoke the one API, for an hour per session', () => {
    const s = stack();
    const api = new MlopsApi(s, 'Api', { description: 'd', auth: 'iam', throttleRateLimit: 1, throttleBurstLimit: 1 });
    api.api.root.addMethod('GET');
    new ApiCallerRole(s, 'Caller', { api, assumedBy: new iam.AccountRootPrincipal(), description: 'people' });
    const t = Template.fromStack(s);
    t.hasResourceProperties('AWS::IAM::Role', { MaxSessionDuration: 3600, Description: 'people' });
    const actions = Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p) =>
      p['Properties']['PolicyDocument']['Statement'].map((st: any) => st.Action),
    );
    expect(actions).toEqual(['execute-api:Invoke']);
    expect(() => new ApiCallerRole(s, 'Nobody', { api, assumedBy: new iam.AccountRootPrincipal(), description: ' ' })).toThrow(
      'an API caller role description must say who calls, but an empty one was provided',
    );
  });
});
