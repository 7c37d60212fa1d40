import { readFileSync } from 'node:fs';
import { Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, resolveEnvironment } from '../../lib/config';
import { lambdaEntry } from '../../lib/constructs/mlops-function';
import { nagPacksFor } from '../../lib/constructs/nag';
import { REGISTRY_TABLE_SPEC } from '../../lib/adapters/dynamodb/registry-table';
import { REGISTRY_ROUTES, REGISTRY_TABLE_ACTIONS, registryRoutes } from '../../stacks/registry-stack';
import { describeStackNag, logicalIdAt, newApp, statementsOf } from '../stack-synth';
import { buildStage, synthRegistry } from './synth';

const environments = synthRegistry();

/** The variables the handler requires (`NAME: required` in its `handlerEnv` schema), from its source. */
const handlerVariables = (): string[] =>
  [...readFileSync(lambdaEntry('registry'), 'utf8').matchAll(/\b([A-Z][A-Z0-9_]+): required\b/g)]
    .map((m) => m[1]!)
    .sort();

describe.each(ENVIRONMENT_NAMES)('RegistryStack in %s', (name) => {
  const { template: t, config } = environments[name];
  const production = name === 'production';
  const tableId = logicalIdAt(t, 'AWS::DynamoDB::Table', '/Registry/Table/Resource');
  const busId = logicalIdAt(t, 'AWS::Events::EventBus', '/Registry/EventBus/Resource');
  const apiId = logicalIdAt(t, 'AWS::ApiGateway::RestApi', '/Registry/Api/Api/Resource');
  const fnId = logicalIdAt(t, 'AWS::Lambda::Function', '/Registry/Registry/Function/Resource');
  const fn = t.findResources('AWS::Lambda::Function')[fnId]!;
  const fnRoleId: string = fn['Properties']['Role']['Fn::GetAtt'][0];

  describe('table', () => {
    const table = t.findResources('AWS::DynamoDB::Table')[tableId]!;
    const p = table['Properties'];

    it('is keyed, indexed, billed and expired as REGISTRY_TABLE_SPEC says', () => {
      const spec = REGISTRY_TABLE_SPEC;
      expect(Object.keys(t.findResources('AWS::DynamoDB::Table'))).toEqual([tableId]);
      expect(p['KeySchema']).toEqual([
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      expect(p['AttributeDefinitions']).toEqual(
        ['pk', 'sk', 'gsi1pk', 'gsi1sk'].map((n) => ({ AttributeName: n, AttributeType: 'S' })),
      );
      expect(p['GlobalSecondaryIndexes']).toEqual([
        {
          IndexName: 'gsi1',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ]);
      expect(p['BillingMode']).toBe(spec.billingMode);
      expect(p['TimeToLiveSpecification']).toEqual({ AttributeName: 'ttl', Enabled: true });
    });

    it(`has point-in-time recovery ${production ? 'on' : 'off'}, as registry.pointInTimeRecovery says`, () => {
      expect(config.registry.pointInTimeRecovery).toBe(production);
      expect(p['PointInTimeRecoverySpecification']).toEqual({ PointInTimeRecoveryEnabled: production });
    });

    it("is encrypted with the lake's customer managed key", () => {
      expect(p['SSESpecification']).toEqual({
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: { 'Fn::ImportValue': expect.stringMatching(/LakeKey[0-9A-F]{8}Arn/) },
      });
    });

    it(`is ${production ? 'retained and deletion-protected' : 'deleted with the stack'}`, () => {
      expect(table['DeletionPolicy']).toBe(production ? 'Retain' : 'Delete');
      expect(table['UpdateReplacePolicy']).toBe(production ? 'Retain' : 'Delete');
      expect(p['DeletionProtectionEnabled']).toBe(production);
    });

    it(`is ${production ? '' : 'not '}in an AWS Backup plan`, () => {
      const selections = Object.values(t.findResources('AWS::Backup::BackupSelection'));
      if (!production) {
        expect(selections).toEqual([]);
        t.resourceCountIs('AWS::Backup::BackupPlan', 0);
        return;
      }
      expect(selections).toHaveLength(1);
      expect(selections[0]!['Properties']['BackupSelection']['Resources']).toEqual([
        { 'Fn::GetAtt': [tableId, 'Arn'] },
      ]);
      const [plan] = Object.values(t.findResources('AWS::Backup::BackupPlan'));
      const rules = plan!['Properties']['BackupPlan']['BackupPlanRule'] as Record<string, any>[];
      expect(rules.map((r) => [r['ScheduleExpression'], r['Lifecycle']['DeleteAfterDays']])).toEqual([
        ['cron(0 5 * * ? *)', 35],
        ['cron(0 5 1 * ? *)', 365],
      ]);
      const [vault] = Object.values(t.findResources('AWS::Backup::BackupVault'));
      expect(vault!['DeletionPolicy']).toBe('Retain');
    });

    it.runIf(production)('fails if the backup vault is on the default key or unlocked', () => {
      const vaults = Object.values(t.findResources('AWS::Backup::BackupVault'));
      expect(vaults).toHaveLength(1);
      for (const vault of vaults) {
        // The lake key, imported from the data lake stack.
        expect(JSON.stringify(vault['Properties']['EncryptionKeyArn'])).toMatch(/DataLake.*Key/);
        // The plan keeps recovery points 35 days to a year; the lock holds every one that long.
        expect(vault['Properties']['LockConfiguration']).toEqual({ MinRetentionDays: 35, MaxRetentionDays: 366 });
      }
    });
  });

  describe('event bus', () => {
    it('is a custom bus of the stack, open to no other account', () => {
      t.resourceCountIs('AWS::Events::EventBus', 1);
      t.resourceCountIs('AWS::Events::EventBusPolicy', 0);
      const bus = t.findResources('AWS::Events::EventBus')[busId]!;
      expect(bus['Properties']['Policy']).toBeUndefined();
      expect(bus['Properties']['Name']).not.toBe('default');
    });

    it("fails if the bus is not encrypted with the kit's rotated key, usable by EventBridge for this bus only", () => {
      const bus = t.findResources('AWS::Events::EventBus')[busId]!;
      const keyId = logicalIdAt(t, 'AWS::KMS::Key', '/Registry/EventBusKey/Resource');
      expect(bus['Properties']['KmsKeyIdentifier']).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
      const key = t.findResources('AWS::KMS::Key')[keyId]!;
      expect(key['Properties']['EnableKeyRotation']).toBe(true);
      const forEvents = (key['Properties']['KeyPolicy']['Statement'] as Record<string, any>[]).filter(
        (st) => JSON.stringify(st['Principal']).includes('events.amazonaws.com'),
      );
      expect(forEvents).toHaveLength(1);
      expect(Object.keys(forEvents[0]!['Condition']['StringEquals']).sort()).toEqual([
        'aws:SourceAccount',
        'aws:SourceArn',
        'kms:EncryptionContext:aws:events:event-bus:arn',
      ]);
    });
  });

  describe('registry function', () => {
    const p = fn['Properties'];
    const variables = p['Environment']['Variables'] as Record<string, unknown>;

    it('passes every variable the handler requires, and each one names a resource of this platform', () => {
      expect(handlerVariables()).toEqual(['ARTIFACTS_BUCKET', 'EVENT_BUS_NAME', 'REGISTRY_TABLE_NAME']);
      for (const v of handlerVariables()) expect(variables, v).toHaveProperty(v);
      expect(variables['REGISTRY_TABLE_NAME']).toEqual({ Ref: tableId });
      expect(variables['EVENT_BUS_NAME']).toEqual({ Ref: busId });
      expect(variables['ARTIFACTS_BUCKET']).toEqual({
        'Fn::ImportValue': expect.stringMatching(/LakeArtifacts/),
      });
    });

    it('takes memory and reserved concurrency from config.lambda', () => {
      expect(p['MemorySize']).toBe(config.lambda.memorySizeMb);
      expect(p['ReservedConcurrentExecutions']).toBe(config.lambda.reservedConcurrency ?? undefined);
      expect(p['Timeout']).toBeLessThan(29);
    });

    it("logs to its own group, encrypted with the lake's logs key, kept as config.logs says", () => {
      const groupId = p['LoggingConfig']['LogGroup']['Ref'];
      const group = t.findResources('AWS::Logs::LogGroup')[groupId]!;
      expect(group['Properties']['RetentionInDays']).toBe(config.logs.retentionDays);
      expect(group['Properties']['KmsKeyId']).toEqual({
        'Fn::ImportValue': expect.stringMatching(/LakeLogsKey/),
      });
    });

    it('may call exactly the DynamoDB operations of the core, on this table and its gsi1 index only', () => {
      const dynamo = statementsOf(t, fnRoleId).filter((s) => s.Action.some((a) => a.startsWith('dynamodb:')));
      expect(dynamo).toHaveLength(1);
      expect(dynamo[0]!.Action.sort()).toEqual([...REGISTRY_TABLE_ACTIONS].sort());
      expect(dynamo[0]!.Resource).toEqual([
        { 'Fn::GetAtt': [tableId, 'Arn'] },
        { 'Fn::Join': ['', [{ 'Fn::GetAtt': [tableId, 'Arn'] }, '/index/gsi1']] },
      ]);
      expect(dynamo[0]!.Condition).toBeUndefined();
    });

    it('may use the table key only through DynamoDB', () => {
      const kms = statementsOf(t, fnRoleId).filter((s) => s.Action.some((a) => a.startsWith('kms:')));
      expect(kms).toEqual([
        {
          Action: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
          Resource: [{ 'Fn::ImportValue': expect.stringMatching(/LakeKey[0-9A-F]{8}Arn/) }],
          Condition: { StringEquals: { 'kms:ViaService': 'dynamodb.us-east-1.amazonaws.com' } },
        },
      ]);
    });

    it('may put events on this bus only, list run artifacts, and has no other permission than logs and tracing', () => {
      const statements = statementsOf(t, fnRoleId);
      expect(statements.filter((s) => s.Action.includes('events:PutEvents'))).toEqual([
        { Action: ['events:PutEvents'], Resource: [{ 'Fn::GetAtt': [busId, 'Arn'] }], Condition: undefined },
      ]);
      const services = [...new Set(statements.flatMap((s) => s.Action.map((a) => a.split(':')[0])))].sort();
      expect(services).toEqual(['dynamodb', 'events', 'kms', 'logs', 's3', 'xray']);
      // s3: listing run artifacts under mlflow/ for artifacts/list, and nothing else.
      expect(statements.filter((s) => s.Action.some((a) => a.startsWith('s3:')))).toEqual([
        {
          Action: ['s3:ListBucket'],
          Resource: [{ 'Fn::ImportValue': expect.stringMatching(/Artifacts.*Arn/) }],
          Condition: { StringLike: { 's3:prefix': 'mlflow/*' } },
        },
      ]);
    });
  });

  describe('API', () => {
    const resources = t.findResources('AWS::ApiGateway::Resource');
    const pathOf = (resourceId: string): string => {
      const r = resources[resourceId]!['Properties'];
      const parent = r['ParentId']['Ref'] ? pathOf(r['ParentId']['Ref']) : '';
      return `${parent}/${r['PathPart']}`;
    };
    const methods = Object.values(t.findResources('AWS::ApiGateway::Method'));
    const routes = methods.map(
      (m) => `${m['Properties']['HttpMethod']} ${pathOf(m['Properties']['ResourceId']['Ref'])}`,
    );

    it("serves MLflow's REST API and its ajax-api alias, with any method, and nothing else", () => {
      expect(routes.sort()).toEqual(REGISTRY_ROUTES.map((r) => `ANY ${r}`).sort());
      expect(REGISTRY_ROUTES).toEqual(['/api/2.0/mlflow/{proxy+}', '/ajax-api/2.0/mlflow/{proxy+}']);
    });

    it(`requires ${name === 'local' ? 'no' : 'SigV4 (IAM)'} authorization on every method`, () => {
      for (const m of methods) {
        expect(m['Properties']['AuthorizationType']).toBe(name === 'local' ? 'NONE' : 'AWS_IAM');
      }
    });

    it('proxies every route to the registry function', () => {
      for (const m of methods) {
        expect(m['Properties']['Integration']['Type']).toBe('AWS_PROXY');
        expect(JSON.stringify(m['Properties']['Integration']['Uri'])).toContain(`"${fnId}","Arn"`);
      }
    });

    it('throttles the stage as config.api says', () => {
      t.hasResourceProperties('AWS::ApiGateway::Stage', {
        StageName: 'v1',
        MethodSettings: Match.arrayWith([
          Match.objectLike({
            ThrottlingRateLimit: config.api.throttleRateLimit,
            ThrottlingBurstLimit: config.api.throttleBurstLimit,
          }),
        ]),
      });
    });

    it(`has ${config.api.waf ? 'a' : 'no'} WAF web ACL in front of the stage`, () => {
      expect(config.api.waf).toBe(production);
      t.resourceCountIs('AWS::WAFv2::WebACLAssociation', production ? 1 : 0);
    });
  });

  describe('caller roles', () => {
    const roleId = (id: string) => logicalIdAt(t, 'AWS::IAM::Role', `/Registry/${id}/Resource`);
    /** The data scientist's one statement: invoke on the routes of its levels (no promote where Production is the release's). */
    const scientistAccess = config.registry.productionThroughReleaseOnly ? (['read', 'write'] as const) : (['read', 'write', 'promote'] as const);
    const invokeOnly = [
      {
        Action: ['execute-api:Invoke'],
        Resource: registryRoutes([...scientistAccess])
          .map((r) => ({
            'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:execute-api:us-east-1:${config.account}:`, { Ref: apiId }, `/v1/${r.method}${r.path}`]],
          }))
          .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
        Condition: undefined,
      },
    ];

    it('has no shared pipeline role: no role here is trusted by Lambda or Step Functions to call the API', () => {
      const trusted = Object.values(t.findResources('AWS::IAM::Role'))
        .map((r) => JSON.stringify(r['Properties']['AssumeRolePolicyDocument']))
        .filter((doc) => doc.includes('states.amazonaws.com'));
      expect(trusted).toEqual([]);
      expect(Object.keys(t.findResources('AWS::IAM::Role')).some((id) => id.startsWith('PipelineRole'))).toBe(false);
    });

    it('lets the data scientist role be assumed by principals of this account with MFA only', () => {
      const role = t.findResources('AWS::IAM::Role')[roleId('DataScientistRole')]!;
      expect(role['Properties']['AssumeRolePolicyDocument']['Statement']).toEqual([
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: {
            AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${config.account}:root`]] },
          },
          Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'true' } },
        },
      ]);
    });

    it.each(['DataScientistRole'])('lets %s invoke this API stage and nothing else', (id) => {
      const statements = statementsOf(t, roleId(id)).map((st: any) => ({
        ...st,
        Resource: [...st.Resource].sort((a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      }));
      expect(statements).toEqual(invokeOnly);
      expect(production).toBe(config.registry.productionThroughReleaseOnly);
      expect(
        t.findResources('AWS::IAM::Role')[roleId(id)]!['Properties']['ManagedPolicyArns'],
      ).toBeUndefined();
    });
  });

  it('outputs the API URL, the table, the bus, the function and the role ARNs', () => {
    const outputs = t.findOutputs('*');
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        'ApiUrl',
        'TableName',
        'EventBusName',
        'EventBusArn',
        'FunctionName',
        'DataScientistRoleArn',
      ]),
    );
    expect(outputs['PipelineRoleArn']).toBeUndefined();
    expect(outputs['TableName']!['Value']).toEqual({ Ref: tableId });
    expect(outputs['EventBusArn']!['Value']).toEqual({ 'Fn::GetAtt': [busId, 'Arn'] });
    expect(JSON.stringify(outputs['ApiUrl']!['Value'])).toContain(apiId);
  });
});

describeStackNag('the registry', environments);

describe('cdk-nag on the registry catches a violation', () => {
  it('fails if the registry function is given a wildcard grant on the table', () => {
    const { stage, stack } = buildStage(newApp(), resolveEnvironment('staging', { env: {} }));
    stack.function.function.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:Scan'], resources: [`${stack.table.tableArn}/*`] }),
    );
    const [awsSolutions] = nagPacksFor({ name: 'staging' });
    const rules = awsSolutions!.validateScope(stage).violations.map((v) => v.ruleName);
    expect(rules).toEqual([expect.stringMatching(/^AwsSolutions-IAM5\[Resource::<Table\w+\.Arn>\/\*\]$/)]);
  });

  it('fails if production turns point-in-time recovery off (no PITR, no backup plan, nothing acknowledged)', () => {
    const config = resolveEnvironment('production', {
      env: {},
      overrides: { production: { registry: { pointInTimeRecovery: false } } },
    });
    const { stage, stack } = buildStage(newApp(), config);
    expect(stack.backupPlan).toBeUndefined();
    const rules = nagPacksFor(config)
      .flatMap((pack) => pack.validateScope(stage).violations)
      .filter((v) => v.violatingResources.some((r) => r.constructPath?.includes('/Registry/Table')))
      .map((v) => v.ruleName)
      .sort();
    expect(rules).toEqual([
      expect.stringMatching(/^AwsSolutions-DDB3/),
      // PCI DSS 3.2.1 has no DynamoDB rule; NIST 800-53 R5 and HIPAA Security both ask for both.
      expect.stringMatching(/^HIPAA\.Security-DynamoDBInBackupPlan/),
      expect.stringMatching(/^HIPAA\.Security-DynamoDBPITREnabled/),
      expect.stringMatching(/^NIST\.800\.53\.R5-DynamoDBInBackupPlan/),
      expect.stringMatching(/^NIST\.800\.53\.R5-DynamoDBPITREnabled/),
    ]);
  });
});
