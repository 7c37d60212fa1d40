import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { renderDefinitionString, validateAsl } from '../../lib/asl';
import { ENVIRONMENT_NAMES, resolveEnvironment } from '../../lib/config';
import { nagPacksFor } from '../../lib/constructs/nag';
import { glueColumns, ONLINE_TABLE_SPEC } from '../../lib/features/definitions';
import { wineFeatures, wineRepo } from '../../lib/features/wine';
import {
  athenaIntegrations,
  dynamoDbIntegrations,
  eventsIntegrations,
  IntegrationRegistry,
  lambdaIntegrations,
  s3Integrations,
  sagemakerIntegrations,
  snsIntegrations,
} from '../../lib/local/sfn';
import { describeStackNag, logicalIdAt, newApp, statementsOf } from '../stack-synth';
import { buildStage, synthFeatureStore } from './synth';

const environments = synthFeatureStore();

const actionsOf = (statements: { Action: string[] }[]) =>
  [...new Set(statements.flatMap((s) => s.Action))].sort();

function roleOf(t: Template, functionPath: string): string {
  const fn = t.findResources('AWS::Lambda::Function')[logicalIdAt(t, 'AWS::Lambda::Function', functionPath)]!;
  return fn['Properties']['Role']['Fn::GetAtt'][0];
}

function definitionOf(t: Template): Record<string, any> {
  const [machine] = Object.values(t.findResources('AWS::StepFunctions::StateMachine'));
  return renderDefinitionString(machine!['Properties']['DefinitionString']);
}

/** Every state with the chain of states that enclose it (Map, Parallel). */
function walkStates(def: Record<string, any>, enclosing: Record<string, any>[] = []) {
  const out: { name: string; state: Record<string, any>; enclosing: Record<string, any>[] }[] = [];
  for (const [name, state] of Object.entries(def['States'] as Record<string, Record<string, any>>)) {
    out.push({ name, state, enclosing });
    for (const child of [state['ItemProcessor'], state['Iterator'], ...(state['Branches'] ?? [])]) {
      if (child) out.push(...walkStates(child, [...enclosing, state]));
    }
  }
  return out;
}

describe.each(ENVIRONMENT_NAMES)('FeatureStoreStack in %s', (name) => {
  const { template: t, config, stack } = environments[name];
  const production = name === 'production';

  it(`${production ? 'protects' : 'does not protect'} the online table from deletion (retained ${production ? 'in production' : 'only in production'})`, () => {
    const tables = Object.values(t.findResources('AWS::DynamoDB::Table'));
    expect(tables.length).toBeGreaterThan(0);
    // Fails if a retained table can be deleted by a DeleteTable call outside CloudFormation.
    for (const table of tables) {
      expect(table['Properties']['DeletionProtectionEnabled']).toBe(production);
      expect(table['DeletionPolicy']).toBe(production ? 'Retain' : 'Delete');
    }
  });

  describe('offline tables', () => {
    const tables = Object.values(t.findResources('AWS::Glue::Table'));

    it("registers the repo's batch and push tables in the lake's Glue database", () => {
      expect(tables.map((r) => r['Properties']['TableInput']['Name']).sort()).toEqual([
        'wine_features',
        'wine_features_push',
      ]);
      for (const r of tables) expect(r['Properties']['DatabaseName']).toBe(config.dataLake.glueDatabaseName);
    });

    it('gives the batch table the Glue columns of the view, as Parquet under features/ in the curated bucket', () => {
      t.hasResourceProperties('AWS::Glue::Table', {
        TableInput: Match.objectLike({
          Name: 'wine_features',
          StorageDescriptor: Match.objectLike({
            Columns: glueColumns(wineRepo, wineFeatures).map((c) => ({ Name: c.name, Type: c.type })),
            Location: {
              'Fn::Join': [
                '',
                [
                  's3://',
                  { 'Fn::ImportValue': Match.stringLikeRegexp('LakeCurated') },
                  '/features/wine_features/',
                ],
              ],
            },
            SerdeInfo: {
              SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
            },
          }),
        }),
      });
    });

    it('reads offline pushes as JSON lines where the feature server appends them', () => {
      t.hasResourceProperties('AWS::Glue::Table', {
        TableInput: Match.objectLike({
          Name: 'wine_features_push',
          StorageDescriptor: Match.objectLike({
            Location: {
              'Fn::Join': [
                '',
                [
                  's3://',
                  { 'Fn::ImportValue': Match.stringLikeRegexp('LakeCurated') },
                  '/features/wine_features_push/',
                ],
              ],
            },
            SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' },
          }),
        }),
      });
    });
    it.each(['wine_features', 'wine_features_push'])(
      'fails if %s is not partitioned by event day with Glue partition projection',
      (table) => {
        const r = tables.find((x) => x['Properties']['TableInput']['Name'] === table)!;
        const input = r['Properties']['TableInput'];
        expect(input['PartitionKeys']).toEqual([{ Name: 'dt', Type: 'string' }]);
        expect(input['Parameters']).toMatchObject({
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': '2000-01-01,NOW+1DAYS',
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          'storage.location.template': {
            'Fn::Join': ['', ['s3://', expect.anything(), `/features/${table}/dt=\${dt}/`]],
          },
        });
      },
    );
  });

  describe('online table', () => {
    const [id, table] = Object.entries(t.findResources('AWS::DynamoDB::Table'))[0]!;

    it('is keyed, billed and expired as ONLINE_TABLE_SPEC says', () => {
      expect(Object.keys(t.findResources('AWS::DynamoDB::Table'))).toHaveLength(1);
      const p = table['Properties'];
      expect(p['KeySchema']).toEqual([
        { AttributeName: ONLINE_TABLE_SPEC.partitionKey.name, KeyType: 'HASH' },
      ]);
      expect(p['AttributeDefinitions']).toEqual([
        {
          AttributeName: ONLINE_TABLE_SPEC.partitionKey.name,
          AttributeType: ONLINE_TABLE_SPEC.partitionKey.type,
        },
      ]);
      expect(p['BillingMode']).toBe('PAY_PER_REQUEST');
      expect(p['TimeToLiveSpecification']).toEqual({
        AttributeName: ONLINE_TABLE_SPEC.timeToLiveAttribute,
        Enabled: true,
      });
    });

    it(`has point-in-time recovery ${production ? 'on' : 'off'}, as registry.pointInTimeRecovery says`, () => {
      expect(table['Properties']['PointInTimeRecoverySpecification']).toEqual({
        PointInTimeRecoveryEnabled: production,
      });
    });

    it("is encrypted with the lake's customer managed key", () => {
      expect(table['Properties']['SSESpecification']).toEqual({
        SSEEnabled: true,
        SSEType: 'KMS',
        KMSMasterKeyId: { 'Fn::ImportValue': expect.stringMatching(/LakeKey/) },
      });
    });

    it(`is ${production ? 'retained' : 'deleted'} with the stack`, () => {
      expect(table['DeletionPolicy']).toBe(production ? 'Retain' : 'Delete');
      expect(id).toMatch(/^OnlineTable/);
    });
  });

  describe('feature server API', () => {
    const serverId = logicalIdAt(t, 'AWS::Lambda::Function', '/FeatureServer/Function/Resource');
    const methods = Object.values(t.findResources('AWS::ApiGateway::Method'));
    const resources = t.findResources('AWS::ApiGateway::Resource');
    const routes = methods
      .map((m) => {
        const p = m['Properties'];
        const path = resources[p['ResourceId']['Ref']]?.['Properties']['PathPart'];
        return `${p['HttpMethod']} /${path}`;
      })
      .sort();

    it("serves Feast's three routes and the registry's read-only listings, nothing else", () => {
      expect(routes).toEqual([
        'GET /entities',
        'GET /feature_services',
        'GET /feature_views',
        'GET /health',
        'GET /projects',
        'POST /get-online-features',
        'POST /push',
      ]);
    });

    it(`requires ${config.api.auth === 'iam' ? 'SigV4 (IAM)' : 'no'} authorization on every method`, () => {
      expect(config.api.auth).toBe(name === 'local' ? 'none' : 'iam');
      for (const m of methods) {
        expect(m['Properties']['AuthorizationType']).toBe(config.api.auth === 'iam' ? 'AWS_IAM' : 'NONE');
      }
    });

    it('proxies every route to the feature server function', () => {
      for (const m of methods) {
        expect(m['Properties']['Integration']['Type']).toBe('AWS_PROXY');
        expect(JSON.stringify(m['Properties']['Integration']['Uri'])).toContain(serverId);
      }
    });

    it(`${production ? 'puts' : 'does not put'} WAF in front of the stage`, () => {
      expect(Object.keys(t.findResources('AWS::WAFv2::WebACLAssociation'))).toHaveLength(production ? 1 : 0);
    });
  });

  describe('functions and grants', () => {
    const tableId = Object.keys(t.findResources('AWS::DynamoDB::Table'))[0]!;
    const env = (path: string) =>
      t.findResources('AWS::Lambda::Function')[logicalIdAt(t, 'AWS::Lambda::Function', path)]!['Properties'][
        'Environment'
      ]['Variables'];

    it('passes the feature server its table, offline bucket and prefix', () => {
      expect(env('/FeatureServer/Function/Resource')).toEqual(
        expect.objectContaining({
          ONLINE_TABLE_NAME: { Ref: tableId },
          OFFLINE_BUCKET: { 'Fn::ImportValue': expect.stringMatching(/:ExportsOutputRefLakeCurated/) },
          OFFLINE_PREFIX: 'features',
        }),
      );
    });

    it('passes materialize-write its table and UNLOAD bucket and the plan function its table', () => {
      expect(env('/MaterializeWrite/Function/Resource')).toEqual(
        expect.objectContaining({
          ONLINE_TABLE_NAME: { Ref: tableId },
          UNLOAD_BUCKET: { 'Fn::ImportValue': expect.stringMatching(/:ExportsOutputRefLakeCurated/) },
        }),
      );
      expect(env('/MaterializePlan/Function/Resource')).toEqual(
        expect.objectContaining({ ONLINE_TABLE_NAME: { Ref: tableId } }),
      );
    });

    it('lets the feature server make only the online store calls and append pushes', () => {
      const statements = statementsOf(t, roleOf(t, '/FeatureServer/Function/Resource'));
      expect(actionsOf(statements)).toEqual([
        'dynamodb:BatchGetItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:PutItem',
        'kms:Decrypt',
        'kms:DescribeKey',
        'kms:Encrypt',
        'kms:GenerateDataKey',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        's3:PutObject',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ]);
      const put = statements.find((s) => s.Action.includes('s3:PutObject'))!;
      expect(JSON.stringify(put.Resource)).toMatch(/\/features\/wine_features_push\/\*"\]\]\}\]$/);
      const dynamo = statements.find((s) => s.Action.includes('dynamodb:PutItem'))!;
      expect(dynamo.Resource).toEqual([{ 'Fn::GetAtt': [tableId, 'Arn'] }]);
    });

    it('uses the lake key only through DynamoDB and S3 (kms:ViaService)', () => {
      for (const fn of ['/FeatureServer/Function/Resource', '/MaterializeWrite/Function/Resource']) {
        for (const s of statementsOf(t, roleOf(t, fn)).filter((s) =>
          s.Action.some((a) => a.startsWith('kms:')),
        )) {
          expect(s.Condition).toEqual({
            StringEquals: {
              'kms:ViaService': expect.stringMatching(`^(dynamodb|s3)\\.${config.region}\\.amazonaws\\.com$`),
            },
          });
        }
      }
    });

    it('fails if materialize-write may do more than read under materialize/ and write the online table', () => {
      const statements = statementsOf(t, roleOf(t, '/MaterializeWrite/Function/Resource'));
      // The feature server's actions, with reads of materialize/ in place of its offline appends.
      expect(actionsOf(statements)).toEqual(
        actionsOf(statementsOf(t, roleOf(t, '/FeatureServer/Function/Resource')))
          .map((a) => (a === 's3:PutObject' ? 's3:GetObject' : a))
          .sort(),
      );
      const read = statements.find((s) => s.Action.includes('s3:GetObject'))!;
      expect(JSON.stringify(read.Resource)).toMatch(/\/materialize\/\*"\]\]\}\]?$/);
    });

    it('fails if the plan function may do more than read the window records (BatchGetItem)', () => {
      const statements = statementsOf(t, roleOf(t, '/MaterializePlan/Function/Resource'));
      // The table key's actions are the ones DynamoDB asks of any caller (TABLE_KEY_ACTIONS).
      expect(actionsOf(statements)).toEqual([
        'dynamodb:BatchGetItem',
        'kms:Decrypt',
        'kms:DescribeKey',
        'kms:Encrypt',
        'kms:GenerateDataKey',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ]);
    });

    it('fails if the machine may write or list the curated bucket outside materialize/ or read beyond the feature tables', () => {
      const [machine] = Object.values(t.findResources('AWS::StepFunctions::StateMachine'));
      const statements = statementsOf(t, machine!['Properties']['RoleArn']['Fn::GetAtt'][0]);
      const prefixes = (action: string) =>
        statements
          .filter((s) => s.Action.includes(action))
          .flatMap((s) => s.Resource as unknown[])
          .map((r) => JSON.stringify(r).match(/"\/([^"]*)\*"/)?.[1])
          .sort();
      // results/ is Athena's own result prefix (the query grant), in the results bucket.
      expect(prefixes('s3:PutObject')).toEqual(['materialize/results/', 'materialize/unload/', 'results/']);
      const lists = statements.filter((s) => s.Action.includes('s3:ListBucket') && s.Condition);
      expect(lists.map((s) => (s.Condition as Record<string, Record<string, string[]>>)['StringLike']!['s3:prefix']).flat().sort()).toEqual([
        'features/*',
        'materialize/unload/*',
        'results/*',
      ]);
      // The Distributed Maps start child executions of this machine only.
      const start = statements.find((s) => s.Action.includes('states:StartExecution'))!;
      expect(JSON.stringify(start.Resource)).toContain(Object.keys(t.findResources('AWS::StepFunctions::StateMachine'))[0]);
      expect(actionsOf(statements).filter((a) => a.includes('*'))).toEqual([]);
    });

    it('lets the state machine read only the feature tables and invoke only the workflow functions', () => {
      const [machine] = Object.values(t.findResources('AWS::StepFunctions::StateMachine'));
      const statements = statementsOf(t, machine!['Properties']['RoleArn']['Fn::GetAtt'][0]);
      const actions = actionsOf(statements);
      expect(actions).not.toContain('s3:DeleteObject');
      expect(actions.filter((a) => a.startsWith('dynamodb:'))).toEqual(['dynamodb:PutItem']);
      const glue = statements.find((s) => s.Action.includes('glue:GetTable'))!;
      expect(JSON.stringify(glue.Resource)).not.toContain('/*');
      const invoked = JSON.stringify(statements.filter((s) => s.Action.includes('lambda:InvokeFunction')));
      expect(invoked).toContain(
        logicalIdAt(t, 'AWS::Lambda::Function', '/MaterializePlan/Function/Resource'),
      );
      expect(invoked).toContain(
        logicalIdAt(t, 'AWS::Lambda::Function', '/MaterializeWrite/Function/Resource'),
      );
      expect(invoked).not.toContain(
        logicalIdAt(t, 'AWS::Lambda::Function', '/FeatureServer/Function/Resource'),
      );
    });

    it(`${production ? 'reserves' : 'does not reserve'} concurrency, as lambda.reservedConcurrency says`, () => {
      for (const fn of Object.values(t.findResources('AWS::Lambda::Function'))) {
        expect(fn['Properties']['ReservedConcurrentExecutions'] !== undefined).toBe(production);
      }
    });
  });

  describe('materialization state machine', () => {
    const definition = definitionOf(t);
    const states = walkStates(definition);
    const tasks = states.filter((s) => s.state['Type'] === 'Task');

    it('passes asl-validator as JSONPath', () => {
      expect(validateAsl(definition)).toEqual({ isValid: true, errors: [] });
      expect(definition['QueryLanguage']).toBe('JSONPath');
    });

    it('plans, then per view UNLOADs, writes the parts with a Distributed Map, counts and records the window', () => {
      expect(definition['StartAt']).toBe('Plan');
      const write = logicalIdAt(t, 'AWS::Lambda::Function', '/MaterializeWrite/Function/Resource');
      expect(tasks.map((s) => `${s.name} ${JSON.stringify(s.state['Resource']).includes(write) ? 'write' : s.state['Resource']}`)).toEqual([
        'Plan arn:aws:states:::lambda:invoke',
        'Unload arn:aws:states:::athena:startQueryExecution.sync',
        'Write part batch write',
        'Count write',
        'Record window arn:aws:states:::dynamodb:putItem',
      ]);
      const views = definition['States']['Materialize each view'];
      expect(views).toMatchObject({
        Type: 'Map',
        ItemsPath: '$.views',
        MaxConcurrency: 4,
        ItemSelector: { 'view.$': '$$.Map.Item.Value', 'execution.$': '$$.Execution.Id' },
        ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' }, StartAt: 'Unload' },
      });
      expect(definition['States']['Plan']['Parameters']['Payload']).toEqual({
        'input.$': '$',
        'executionStartTime.$': '$$.Execution.StartTime',
        'execution.$': '$$.Execution.Name',
        database: config.dataLake.glueDatabaseName,
        unloadLocation: expect.stringMatching(/^s3:\/\/.+\/materialize\/unload\/$/),
      });
    });

    it('writes the parts with a Distributed Map: ItemReader over the UNLOAD prefix, ItemBatcher, ResultWriter, configured concurrency', () => {
      const parts = definition['States']['Materialize each view']['ItemProcessor']['States']['Write parts'];
      const m = config.materialization;
      expect(parts).toMatchObject({
        Type: 'Map',
        ItemReader: {
          Resource: 'arn:aws:states:::s3:listObjectsV2',
          // the folder of the Unload attempt that succeeded
          Parameters: { 'Bucket.$': '$.view.unloadBucket', 'Prefix.$': "States.Format('{}{}/', $.view.unloadPrefix, $.query.attempt)" },
        },
        ItemSelector: { 'Key.$': '$$.Map.Item.Value.Key' },
        ItemBatcher: {
          MaxItemsPerBatch: m.partsPerBatch,
          BatchInput: { 'featureView.$': '$.view.featureView', 'bucket.$': '$.view.unloadBucket' },
        },
        MaxConcurrency: m.maxConcurrency,
        ResultWriter: {
          Resource: 'arn:aws:states:::s3:putObject',
          Parameters: { Prefix: 'materialize/results/' },
        },
        ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
      });
      // CDK leaves a 0 out (Step Functions' default).
      expect(parts['ToleratedFailurePercentage'] ?? 0).toBe(m.toleratedFailurePercentage);
      expect(JSON.stringify(definition)).not.toContain('getQueryResults');
    });

    it('UNLOADs the query the plan rendered, in the lake workgroup and database, each attempt into a folder of its own', () => {
      const unload = definition['States']['Materialize each view']['ItemProcessor']['States']['Unload'];
      expect(unload['ResultSelector']['attempt.$']).toBe("States.Format('attempt-{}-{}', $$.Execution.RedriveCount, $$.State.RetryCount)");
      expect(unload['Parameters']).toEqual({
        'QueryString.$': "States.Format('{}attempt-{}-{}{}', $.view.unload.head, $$.Execution.RedriveCount, $$.State.RetryCount, $.view.unload.tail)",
        WorkGroup: `mlops-${name}`,
        QueryExecutionContext: { Database: config.dataLake.glueDatabaseName },
      });
    });

    it('fails if a view with failed part batches can record its window', () => {
      const inner = definition['States']['Materialize each view']['ItemProcessor']['States'];
      expect(inner['All parts written?']).toMatchObject({
        Type: 'Choice',
        Choices: [{ Variable: '$.result.failedChildren', NumericEquals: 0, Next: 'Record window' }],
        Default: 'Window not recorded',
      });
    });

    it('gives every Task a timeout and a Retry, and every Task a Catch of its own or of its Map', () => {
      expect(tasks.length).toBeGreaterThan(0);
      for (const { name: state, state: s, enclosing } of tasks) {
        expect(s['TimeoutSeconds'], `${state} TimeoutSeconds`).toBeGreaterThan(0);
        expect(s['Retry']?.length, `${state} Retry`).toBeGreaterThan(0);
        const caught = [s, ...enclosing].some((c) =>
          (c['Catch'] ?? []).some((k: { ErrorEquals: string[] }) => k.ErrorEquals.includes('States.ALL')),
        );
        expect(caught, `${state} is caught`).toBe(true);
      }
    });

    it('fails the execution with the failing step’s error and cause', () => {
      expect(definition['States']['MaterializationFailed']).toMatchObject({
        Type: 'Fail',
        ErrorPath: '$.error.Error',
        CausePath: '$.error.Cause',
      });
    });

    it('never lets an older window replace a newer record', () => {
      const record = states.find((s) => s.name === 'Record window')!.state;
      expect(record['Parameters']['ConditionExpression']).toBe(
        'attribute_not_exists(pk) OR window_end <= :end',
      );
      expect(record['Catch']).toEqual([
        {
          ErrorEquals: ['DynamoDB.ConditionalCheckFailedException'],
          ResultPath: null,
          Next: 'Newer window kept',
        },
      ]);
    });

    it('uses only Task integrations the local runner has', () => {
      const noop = async () => ({});
      const registry = new IntegrationRegistry()
        .use(lambdaIntegrations({ invoke: async () => ({ payload: null }) }))
        .use(
          athenaIntegrations({
            startQueryExecution: async () => ({ QueryExecutionId: 'q' }),
            waitForQuery: noop,
            getQueryExecution: noop,
            getQueryResults: noop,
          }),
        )
        .use(dynamoDbIntegrations(noop))
        .use(s3Integrations(noop))
        .use(snsIntegrations(noop))
        .use(eventsIntegrations(noop))
        .use(sagemakerIntegrations({ run: noop }));
      for (const { name: state, state: s } of tasks) {
        expect(registry.find(s['Resource']), `${state}: ${s['Resource']}`).toBeDefined();
      }
      expect(registry.find('arn:aws:states:::glue:startJobRun.sync')).toBeUndefined();
    });

    it('ends executions within an hour', () => {
      expect(definition['TimeoutSeconds']).toBe(3600);
    });
  });

  describe('schedule', () => {
    const schedules = Object.values(t.findResources('AWS::Scheduler::Schedule'));

    if (config.pipelines.materializationSchedule === null) {
      it('has none, as pipelines.materializationSchedule is null', () => {
        expect(name).toBe('local');
        expect(schedules).toHaveLength(0);
        expect(stack.schedule).toBeUndefined();
      });
    } else {
      it(`starts the machine on ${config.pipelines.materializationSchedule}, ending the window at the scheduled time`, () => {
        expect(schedules).toHaveLength(1);
        const machineId = Object.keys(t.findResources('AWS::StepFunctions::StateMachine'))[0]!;
        expect(schedules[0]!['Properties']).toMatchObject({
          ScheduleExpression: config.pipelines.materializationSchedule,
          ScheduleExpressionTimezone: 'UTC',
          State: 'ENABLED',
          Target: { Arn: { Ref: machineId }, Input: '{"end":"<aws.scheduler.scheduled-time>"}' },
        });
      });

      it('runs it with a role only Scheduler of this account assumes, that may only start it', () => {
        const roleId = schedules[0]!['Properties']['Target']['RoleArn']['Fn::GetAtt'][0];
        const role = t.findResources('AWS::IAM::Role')[roleId]!;
        expect(role['Properties']['AssumeRolePolicyDocument']['Statement']).toEqual([
          expect.objectContaining({
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': config.account } },
          }),
        ]);
        expect(actionsOf(statementsOf(t, roleId))).toEqual(['states:StartExecution']);
      });
    }
  });

  it('outputs the API URL, the table name and the machine ARN', () => {
    const outputs = t.findOutputs('*');
    expect(outputs['ApiUrl']?.['Value']).toBeDefined();
    expect(outputs['OnlineTableName']?.['Value']).toEqual({
      Ref: Object.keys(t.findResources('AWS::DynamoDB::Table'))[0],
    });
    expect(outputs['MaterializationStateMachineArn']?.['Value']).toEqual({
      Ref: Object.keys(t.findResources('AWS::StepFunctions::StateMachine'))[0],
    });
  });
});

describeStackNag('the feature store', environments);

describe('cdk-nag on the feature store catches a violation', () => {
  it('reports a blanket wildcard grant added to the feature server (the check is live)', () => {
    const { stage, stack } = buildStage(newApp(), resolveEnvironment('staging', { env: {} }));
    stack.server.function.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:Scan'], resources: [`${stack.onlineTable.tableArn}/*`] }),
    );
    const [awsSolutions] = nagPacksFor({ name: 'staging' });
    const rules = awsSolutions!.validateScope(stage).violations.map((v) => v.ruleName);
    expect(rules).toEqual([
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::<OnlineTable\w+\.Arn>\/\*\]$/),
    ]);
  });
});

describe('MaterializationSteps props', () => {
  it.each([
    ['partsPerBatch', 0, /MaterializationSteps partsPerBatch must be an integer from 1 to 100, but 0 was provided/],
    ['maxConcurrency', 1.5, /MaterializationSteps maxConcurrency must be an integer from 1 to 10000, but 1.5 was provided/],
    ['toleratedFailurePercentage', 101, /MaterializationSteps toleratedFailurePercentage must be a number from 0 to 100, but 101 was provided/],
  ])('fails synthesis when materialization.%s is %s', (key, value, message) => {
    const config = resolveEnvironment('staging', { env: {} });
    const bad = { ...config, materialization: { ...config.materialization, [key]: value } };
    expect(() => buildStage(newApp(), bad)).toThrow(message);
  });
});
