/**
 * The grant vocabulary (lib/constructs/binding.ts): each owner's grant, in a bare stack, states
 * exactly what it grants; a binding brings the name with the grant; bad grants fail with a sentence.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { describe, expect, it } from 'vitest';
import { FEATURE_FLAGS } from '../../lib/config';
import { Binding, grantTableCalls } from '../../lib/constructs/binding';
import { DataLake } from '../../lib/constructs/data-lake';
import { LakeBucket } from '../../lib/constructs/lake-bucket';
import { MlopsFunction, PROJECT_ROOT } from '../../lib/constructs/mlops-function';

const ECHO = `${PROJECT_ROOT}test/fixtures/lambdas/echo.ts`;
const LAKE_PROPS = { environmentName: 'staging', databaseName: 'mlops_staging', bytesScannedCutoffPerQuery: 10_000_000 };
const ENV = { account: '123456789012', region: 'eu-west-1' };

function stack(): Stack {
  return new Stack(new App({ context: FEATURE_FLAGS }), 'Test', { env: ENV });
}

const role = (scope: Stack, id = 'Role') =>
  new iam.Role(scope, id, { assumedBy: new iam.ServicePrincipal('states.amazonaws.com') });

/** The statements of the policies attached to the one role with this logical id prefix. */
function statements(t: Template, rolePrefix = 'Role'): Record<string, any>[] {
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p['Properties']['Roles']).includes(rolePrefix))
    .flatMap((p) => p['Properties']['PolicyDocument']['Statement']);
}

const actionsOf = (st: Record<string, any>[]): string[] =>
  st.flatMap((s) => (Array.isArray(s['Action']) ? s['Action'] : [s['Action']])).sort();

describe('LakeBucket.writeOnce', () => {
  const bucket = () => {
    const s = stack();
    return new LakeBucket(s, 'Data', { encryptionKey: new kms.Key(s, 'Key') });
  };

  it('grants reads of exact key patterns, each acknowledged on its own', () => {
    const s = stack();
    const b = new LakeBucket(s, 'Data', { encryptionKey: new kms.Key(s, 'Key') });
    b.grantObjects(role(s), { readKeys: ['models/*/model.tar.gz'] }, 'a server reads the model it serves');
    const get = statements(Template.fromStack(s)).find((st) => st['Action'] === 's3:GetObject')!;
    expect(JSON.stringify(get['Resource'])).toContain('/models/*/model.tar.gz');
  });

  it.each([
    [{ prefixes: [] }, /write-once must name at least one prefix, but none was provided/],
    [{ prefixes: ['runs'] }, /a write-once prefix must be a folder name ending in "\/", but "runs" was provided/],
    [{ prefixes: [''] }, /a write-once prefix must be a folder name ending in "\/", but "" was provided/],
    [{ prefixes: ['runs/'], taggedWriter: { prefix: '*', tagKey: 'k', tagValue: 'v' } }, /but "\*" was provided/],
  ] as const)('fails if given %o', (options, message) => {
    expect(() => bucket().writeOnce(options)).toThrow(message);
  });
});

describe('LakeBucket.grantObjects', () => {
  const build = (access: Parameters<LakeBucket['grantObjects']>[1]) => {
    const s = stack();
    const bucket = new LakeBucket(s, 'Data', { encryptionKey: new kms.Key(s, 'Key') });
    const r = role(s);
    bucket.grantObjects(r, access, 'run ids are only known at run time');
    return { t: Template.fromStack(s), r, s };
  };

  it('grants GetObject under the read prefix and the key only through S3', () => {
    const { t } = build({ read: 'runs/' });
    const st = statements(t);
    expect(actionsOf(st)).toEqual(['kms:Decrypt', 's3:GetObject']);
    t.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 's3:GetObject',
            Effect: 'Allow',
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^Data'), 'Arn'] }, '/runs/*']] },
          },
          Match.objectLike({
            Action: 'kms:Decrypt',
            Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } },
          }),
        ]),
      },
    });
  });

  it('lists under the list prefix only, or the whole bucket for ""', () => {
    const prefixed = statements(build({ list: 'runs/' }).t);
    expect(prefixed).toEqual([
      expect.objectContaining({
        Action: ['s3:GetBucketLocation', 's3:ListBucket'],
        Condition: { StringLike: { 's3:prefix': ['runs/*'] } },
      }),
    ]);
    const whole = statements(build({ list: '' }).t);
    expect(whole[0]).not.toHaveProperty('Condition');
  });

  it('gives put single-request writes and write multipart writes, each with its key actions', () => {
    expect(actionsOf(statements(build({ put: 'push/' }).t))).toEqual(['kms:GenerateDataKey', 's3:PutObject']);
    expect(actionsOf(statements(build({ write: 'runs/' }).t))).toEqual([
      'kms:Decrypt',
      'kms:GenerateDataKey',
      's3:AbortMultipartUpload',
      's3:ListMultipartUploadParts',
      's3:PutObject',
    ]);
  });

  it('acknowledges each prefix wildcard on the grantee role, with the reason', () => {
    const { r } = build({ read: 'runs/', write: 'out/' });
    const acks = JSON.stringify(r.node.metadata);
    expect(acks).toMatch(/AwsSolutions-IAM5\[Resource::<Data[0-9A-F]+\.Arn>\/runs\/\*\]/);
    expect(acks).toMatch(/AwsSolutions-IAM5\[Resource::<Data[0-9A-F]+\.Arn>\/out\/\*\]/);
    expect(acks).toContain('run ids are only known at run time');
  });

  it('names the bucket by its export when the grantee is in another stack', () => {
    const app = new App({ context: FEATURE_FLAGS });
    const lakeStack = new Stack(app, 'Lake', { env: ENV });
    const bucket = new LakeBucket(lakeStack, 'Data', { encryptionKey: new kms.Key(lakeStack, 'Key') });
    const other = new Stack(app, 'Other', { env: ENV });
    const r = role(other);
    bucket.grantObjects(r, { read: '' }, 'any object');
    expect(JSON.stringify(r.node.metadata)).toContain('AwsSolutions-IAM5[Resource::Lake:ExportsOutputFnGetAttData');
  });

  it('fails if no access level or no reason is given', () => {
    const s = stack();
    const bucket = new LakeBucket(s, 'Data');
    expect(() => bucket.grantObjects(role(s), {}, 'why')).toThrow(
      'object access must name at least one of read, list, put or write, but {} was provided',
    );
    expect(() => bucket.grantObjects(role(s, 'Other'), { read: '' }, ' ')).toThrow(
      'object access must say why its keys are only known at run time, but an empty reason was provided',
    );
  });

  it('binds the bucket name to a function with the grant', () => {
    const s = stack();
    const bucket = new LakeBucket(s, 'Data', { encryptionKey: new kms.Key(s, 'Key') });
    const fn = new MlopsFunction(s, 'Fn', { entry: ECHO, description: 'fn' });
    fn.bind('DATA_BUCKET', bucket.objects({ put: 'in/' }, 'names are made per request'));
    const t = Template.fromStack(s);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ DATA_BUCKET: { Ref: Match.stringLikeRegexp('^Data') } }) },
    });
    expect(actionsOf(statements(t, 'FnRole'))).toEqual(
      expect.arrayContaining(['kms:GenerateDataKey', 's3:PutObject']),
    );
  });
});

describe('DataLake.grantQuery', () => {
  const build = (tables?: readonly string[]) => {
    const s = stack();
    const lake = new DataLake(s, 'Lake', LAKE_PROPS);
    const r = role(s);
    lake.grantQuery(r, tables ? { tables } : {});
    return { t: Template.fromStack(s), r, lake };
  };

  it('grants the query actions in the workgroup, Glue reads and the result prefix', () => {
    const { t } = build();
    const st = statements(t);
    expect(actionsOf(st)).toEqual([
      'athena:GetQueryExecution',
      'athena:StartQueryExecution',
      'athena:StopQueryExecution',
      'glue:GetDatabase',
      'glue:GetPartitions',
      'glue:GetTable',
      'kms:Decrypt',
      'kms:GenerateDataKey',
      's3:AbortMultipartUpload',
      's3:GetBucketLocation',
      's3:GetObject',
      's3:ListBucket',
      's3:ListMultipartUploadParts',
      's3:PutObject',
    ]);
    expect(JSON.stringify(st)).toContain(':athena:eu-west-1:123456789012:workgroup/mlops-staging');
    expect(JSON.stringify(st)).toContain(':glue:eu-west-1:123456789012:table/mlops_staging/*');
  });

  it('names only the given tables, and acknowledges the table wildcard only without them', () => {
    const named = build(['a', 'b']);
    const text = JSON.stringify(statements(named.t));
    expect(text).toContain('table/mlops_staging/a');
    expect(text).toContain('table/mlops_staging/b');
    expect(text).not.toContain('table/mlops_staging/*');
    expect(JSON.stringify(named.r.node.metadata)).not.toContain(':table/mlops_staging/*');
    expect(JSON.stringify(build().r.node.metadata)).toContain(':table/mlops_staging/*');
  });

  it('fails if the table list is empty', () => {
    expect(() => build([])).toThrow(
      'query grant tables must name at least one Glue table (or be left out for all), but [] was provided',
    );
  });

  it('grantQueryResults gives GetQueryResults and the result objects, nothing to start queries', () => {
    const s = stack();
    const lake = new DataLake(s, 'Lake', LAKE_PROPS);
    lake.grantQueryResults(role(s));
    expect(actionsOf(statements(Template.fromStack(s)))).toEqual([
      'athena:GetQueryResults',
      'kms:Decrypt',
      's3:GetObject',
    ]);
  });
});

describe('tables and buses', () => {
  it('grants exactly the named DynamoDB calls on the table and named indexes, the key through DynamoDB', () => {
    const s = stack();
    const table = new dynamodb.Table(s, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: new kms.Key(s, 'Key'),
    });
    grantTableCalls(role(s), table, { actions: ['dynamodb:GetItem', 'dynamodb:Query'], indexes: ['gsi1'] });
    const st = statements(Template.fromStack(s));
    expect(st).toEqual([
      expect.objectContaining({
        Action: ['dynamodb:GetItem', 'dynamodb:Query'],
        Resource: [
          { 'Fn::GetAtt': [expect.stringMatching(/^Table/), 'Arn'] },
          { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^Table/), 'Arn'] }, '/index/gsi1']] },
        ],
      }),
      expect.objectContaining({
        Action: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
        Condition: { StringEquals: { 'kms:ViaService': 'dynamodb.eu-west-1.amazonaws.com' } },
      }),
    ]);
  });

  it('fails if the calls are empty or not DynamoDB actions', () => {
    const s = stack();
    const table = new dynamodb.Table(s, 'Table', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } });
    expect(() => grantTableCalls(role(s), table, { actions: [] })).toThrow(
      'table calls must name at least one DynamoDB action, but none were provided',
    );
    expect(() => grantTableCalls(role(s, 'R2'), table, { actions: ['s3:GetObject'] })).toThrow(
      'table calls must be DynamoDB actions (dynamodb:*), but s3:GetObject was provided',
    );
  });

  it('binds an event bus name with PutEvents on that bus', () => {
    const s = stack();
    const bus = new events.EventBus(s, 'Bus');
    const fn = new MlopsFunction(s, 'Fn', { entry: ECHO, description: 'fn' });
    fn.bind('EVENT_BUS_NAME', Binding.eventBus(bus));
    const t = Template.fromStack(s);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ EVENT_BUS_NAME: { Ref: Match.stringLikeRegexp('^Bus') } }) },
    });
    expect(statements(t, 'FnRole')).toContainEqual(
      expect.objectContaining({ Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^Bus/), 'Arn'] } }),
    );
  });
});
