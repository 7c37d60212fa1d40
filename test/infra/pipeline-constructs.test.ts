/**
 * The constructs the pipeline stacks are composed of, each in a bare stack: what it renders, and
 * the sentence it fails with on a bad prop.
 */
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { FEATURE_FLAGS, resolveEnvironment } from '../../lib/config';
import { AthenaQuery } from '../../lib/constructs/athena-query';
import { resolveHouseDefaults, withLogsKey } from '../../lib/constructs/house-defaults';
import { LakeKey } from '../../lib/constructs/lake-key';
import { LakeTable } from '../../lib/constructs/lake-table';
import { LakeWorkGroup } from '../../lib/constructs/lake-workgroup';
import { LambdaStep } from '../../lib/constructs/lambda-step';
import { MlopsFunction, PROJECT_ROOT } from '../../lib/constructs/mlops-function';
import { PipelineTopic } from '../../lib/constructs/pipeline-topic';
import { SchedulerRole } from '../../lib/constructs/scheduler-role';
import { TrainingJobRole } from '../../lib/constructs/training-job-role';
import { TrainingJobTask } from '../../lib/constructs/training-job-task';

const ENV = { account: '123456789012', region: 'eu-west-1' };
const stack = () => new Stack(new App({ context: FEATURE_FLAGS }), 'Test', { env: ENV });
/** A state's rendered JSON, as the machine definition will hold it. */
const stateJson = (state: sfn.State): Record<string, any> => Stack.of(state).resolve(state.toStateJson());

describe('AthenaQuery', () => {
  const props = {
    workGroupName: 'wg',
    databaseName: 'db',
    queryStringPath: '$.plan.query',
    resultSelector: { 'id.$': '$.QueryExecution.QueryExecutionId' },
    resultPath: '$.q',
    comment: 'runs the query',
  };

  it('runs startQueryExecution.sync in the workgroup with a 30-minute timeout and the transient retry', () => {
    const json = stateJson(new AthenaQuery(stack(), 'Query', props));
    expect(json).toMatchObject({
      Type: 'Task',
      Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:::athena:startQueryExecution.sync']] },
      Parameters: { 'QueryString.$': '$.plan.query', WorkGroup: 'wg', QueryExecutionContext: { Database: 'db' } },
      ResultSelector: props.resultSelector,
      ResultPath: '$.q',
      TimeoutSeconds: 1800,
      Retry: [
        expect.objectContaining({
          ErrorEquals: ['Athena.TooManyRequestsException', 'Athena.InternalServerException'],
          MaxAttempts: 5,
          JitterStrategy: 'FULL',
        }),
      ],
    });
  });

  it('takes its own timeout and retry', () => {
    const json = stateJson(
      new AthenaQuery(stack(), 'Query', {
        ...props,
        timeout: Duration.minutes(5),
        retry: { errors: ['Athena.TooManyRequestsException'], maxAttempts: 2 },
      }),
    );
    expect(json['TimeoutSeconds']).toBe(300);
    expect(json['Retry']).toEqual([expect.objectContaining({ MaxAttempts: 2 })]);
  });

  it('fails if the query string is not a JSONPath or the timeout is not positive', () => {
    expect(() => new AthenaQuery(stack(), 'Q', { ...props, queryStringPath: 'SELECT 1' })).toThrow(
      `an Athena query's queryStringPath must be a JSONPath starting with $, but "SELECT 1" was provided`,
    );
    expect(() => new AthenaQuery(stack(), 'Q', { ...props, timeout: Duration.seconds(0) })).toThrow(
      'an Athena query timeout must be positive, but 0 seconds was provided',
    );
  });

  it('runs an UNLOAD into a folder of its attempt, named from the redrive and retry counts, and returns the folder', () => {
    const { queryStringPath: _, ...rest } = props;
    const json = stateJson(new AthenaQuery(stack(), 'Unload', { ...rest, unloadPath: '$.plan.queries.train' }));
    const attempt = "States.Format('attempt-{}-{}', $$.Execution.RedriveCount, $$.State.RetryCount)";
    expect(json['Parameters']['QueryString.$']).toBe(
      "States.Format('{}attempt-{}-{}{}', $.plan.queries.train.head, $$.Execution.RedriveCount, $$.State.RetryCount, $.plan.queries.train.tail)",
    );
    expect(json['ResultSelector']).toEqual({ ...props.resultSelector, 'attempt.$': attempt });
  });

  it('fails if both or neither of queryStringPath and unloadPath are given', () => {
    const { queryStringPath: _, ...rest } = props;
    expect(() => new AthenaQuery(stack(), 'Q', { ...props, unloadPath: '$.u' })).toThrow(
      'an Athena query names its query by exactly one of queryStringPath and unloadPath, but both were provided',
    );
    expect(() => new AthenaQuery(stack(), 'Q', rest)).toThrow(
      'an Athena query names its query by exactly one of queryStringPath and unloadPath, but neither was provided',
    );
    expect(() => new AthenaQuery(stack(), 'Q', { ...rest, unloadPath: 'plan.u' })).toThrow(
      `an Athena query's unloadPath must be a JSONPath starting with $, but "plan.u" was provided`,
    );
  });
});

describe('LambdaStep', () => {
  it('invokes the function with a Task timeout 30 s above its own, and retries Lambda faults and named errors', () => {
    const s = stack();
    const fn = new MlopsFunction(s, 'Fn', { entry: `${PROJECT_ROOT}test/fixtures/lambdas/echo.ts`, description: 'fn' });
    const json = stateJson(
      new LambdaStep(s, 'Step', {
        fn,
        payload: { 'x.$': '$.x' },
        resultPath: '$.out',
        comment: 'a step',
        timeout: Duration.minutes(1),
        retryErrors: ['BusyError'],
      }),
    );
    expect(json).toMatchObject({ TimeoutSeconds: 90, ResultPath: '$.out', Parameters: { 'x.$': '$.x' } });
    expect(json['Retry'][0]['ErrorEquals']).toEqual(expect.arrayContaining(['Lambda.TooManyRequestsException', 'BusyError']));
    expect(json['Retry']).toHaveLength(1);
  });
});

describe('LakeKey', () => {
  it('rotates, lists key-policy actions instead of kms:*, and waits 30 days before deleting a retained key', () => {
    const s = stack();
    new LakeKey(s, 'Kept', { description: 'kept' });
    new LakeKey(s, 'Gone', { description: 'gone', removalPolicy: RemovalPolicy.DESTROY });
    const t = Template.fromStack(s);
    t.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ PendingWindowInDays: 30, EnableKeyRotation: true }) });
    t.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ PendingWindowInDays: 7 }) });
    expect(JSON.stringify(t.findResources('AWS::KMS::Key'))).not.toContain('"kms:*"');
  });

  it('fails without a description', () => {
    expect(() => new LakeKey(stack(), 'K', { description: ' ' })).toThrow(
      'a lake key description must say what the key encrypts, but an empty one was provided',
    );
  });
});

describe('LakeWorkGroup', () => {
  let keys = 0;
  const props = (s: Stack) => ({
    workGroupName: 'wg',
    description: 'd',
    resultLocation: 's3://results/results/',
    encryptionKey: new kms.Key(s, `Key${keys++}`),
    bytesScannedCutoffPerQuery: 10_000_000,
  });

  it('enforces its result location, SSE-KMS and the scan cutoff; deletes recursively only when not retained', () => {
    const s = stack();
    new LakeWorkGroup(s, 'Kept', props(s));
    new LakeWorkGroup(s, 'Gone', { ...props(s), workGroupName: 'gone', removalPolicy: RemovalPolicy.DESTROY });
    const t = Template.fromStack(s);
    t.hasResource('AWS::Athena::WorkGroup', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        Name: 'wg',
        RecursiveDeleteOption: false,
        WorkGroupConfiguration: Match.objectLike({
          EnforceWorkGroupConfiguration: true,
          BytesScannedCutoffPerQuery: 10_000_000,
          ResultConfiguration: Match.objectLike({
            OutputLocation: 's3://results/results/',
            ExpectedBucketOwner: '123456789012',
            EncryptionConfiguration: Match.objectLike({ EncryptionOption: 'SSE_KMS' }),
          }),
        }),
      }),
    });
    t.hasResource('AWS::Athena::WorkGroup', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ RecursiveDeleteOption: true }) });
  });

  it('fails on a scan cutoff under Athena minimum or a result location that is not a prefix', () => {
    const s = stack();
    expect(() => new LakeWorkGroup(s, 'A', { ...props(s), bytesScannedCutoffPerQuery: 1000 })).toThrow(
      "bytesScannedCutoffPerQuery must be an integer of at least 10,000,000 (Athena's minimum), but 1000 was provided",
    );
    expect(() => new LakeWorkGroup(s, 'B', { ...props(s), resultLocation: 'results/' })).toThrow(
      'resultLocation must be an s3://bucket/prefix/ URI, but "results/" was provided',
    );
  });
});

describe('LakeTable', () => {
  const database = (s: Stack) => new glue.CfnDatabase(s, 'Db', { catalogId: '123456789012', databaseInput: { name: 'db' } });
  const columns = [{ name: 'x', type: 'double' }];

  it('registers JSON lines with the JSON SerDe, partitions and extra parameters, after its database', () => {
    const s = stack();
    new LakeTable(s, 'T', {
      database: database(s),
      name: 'staged',
      description: 'd',
      location: 's3://b/staged/',
      format: 'json',
      columns,
      partitionKeys: [{ name: 'execution', type: 'string' }],
      parameters: { 'projection.enabled': 'true' },
    });
    Template.fromStack(s).hasResource('AWS::Glue::Table', {
      DependsOn: [Match.stringLikeRegexp('^Db')],
      Properties: {
        CatalogId: '123456789012',
        DatabaseName: 'db',
        TableInput: Match.objectLike({
          Parameters: { classification: 'json', 'projection.enabled': 'true' },
          PartitionKeys: [{ Name: 'execution', Type: 'string' }],
          StorageDescriptor: Match.objectLike({ SerdeInfo: { SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' } }),
        }),
      },
    });
  });

  it('fails on a name Athena cannot query, no columns, or a delimiter on a non-CSV table', () => {
    const s = stack();
    const db = database(s);
    const base = { database: db, description: 'd', location: 's3://b/t/', format: 'csv' as const, columns };
    expect(() => new LakeTable(s, 'A', { ...base, name: 'Bad-Name' })).toThrow(
      `a lake table name must be lower-case letters, digits and _ (Athena's rule), but "Bad-Name" was provided`,
    );
    expect(() => new LakeTable(s, 'B', { ...base, name: 'empty', columns: [] })).toThrow(
      'a lake table must have at least one column, but empty has none',
    );
    expect(() => new LakeTable(s, 'C', { ...base, name: 'p', format: 'parquet', csvDelimiter: ',' })).toThrow(
      'csvDelimiter applies to csv tables only, but p is parquet',
    );
  });
});

describe('SchedulerRole, TrainingJobRole, PipelineTopic', () => {
  it('trusts only this account’s scheduler', () => {
    const s = stack();
    new SchedulerRole(s, 'Role', { description: 'starts things' });
    Template.fromStack(s).hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Principal: { Service: 'scheduler.amazonaws.com' },
            Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } },
          }),
        ],
      },
    });
    expect(() => new SchedulerRole(s, 'Other', { description: '' })).toThrow(
      'a scheduler role description must say what it starts, but an empty one was provided',
    );
  });

  it('lets a training job write its logs and metrics and create volume grants on the key, nothing else', () => {
    const s = stack();
    new TrainingJobRole(s, 'Role', { volumeKey: new kms.Key(s, 'Key') });
    const [policy] = Object.values(Template.fromStack(s).findResources('AWS::IAM::Policy'));
    const sids = policy!['Properties']['PolicyDocument']['Statement'].map((st: any) => st.Sid);
    expect(sids).toEqual(['TrainingJobLogs', 'TrainingJobMetrics', 'EncryptedTrainingVolume']);
  });

  it('publishes with the key only through SNS', () => {
    const s = stack();
    const topic = new PipelineTopic(s, 'Topic', { displayName: 'd', key: new kms.Key(s, 'Key') });
    const role = new iam.Role(s, 'Role', { assumedBy: new iam.ServicePrincipal('states.amazonaws.com') });
    topic.grantPublishEncrypted(role);
    Template.fromStack(s).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'sns:Publish' }),
          Match.objectLike({
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Condition: { StringEquals: { 'kms:ViaService': 'sns.eu-west-1.amazonaws.com' } },
          }),
        ]),
      },
    });
  });
});

describe('TrainingJobTask', () => {
  const props = (s: Stack) => ({
    role: new iam.Role(s, 'JobRole', { assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com') }),
    imageUri: 'image:tag',
    key: new kms.Key(s, 'Key'),
    instanceType: 'm5.large',
    maxRuntime: Duration.hours(1),
  });

  it('runs createTrainingJob.sync with the plan’s name and channels, encrypted, for its runtime plus 30 minutes', () => {
    const s = stack();
    const json = stateJson(new TrainingJobTask(s, 'Train', props(s)));
    expect(json['Parameters']).toMatchObject({
      'TrainingJobName.$': '$.plan.training_job_name',
      ResourceConfig: { InstanceType: 'ml.m5.large', VolumeSizeInGB: 10 },
      StoppingCondition: { MaxRuntimeInSeconds: 3600 },
    });
    expect(json['TimeoutSeconds']).toBe(5400);
  });

  it('grants the machine the job actions on the pipeline’s job names and PassRole to SageMaker only', () => {
    const s = stack();
    const task = new TrainingJobTask(s, 'Train', props(s));
    const machineRole = new iam.Role(s, 'MachineRole', { assumedBy: new iam.ServicePrincipal('states.amazonaws.com') });
    task.grantRun(machineRole);
    const text = JSON.stringify(Template.fromStack(s).findResources('AWS::IAM::Policy'));
    expect(text).toContain(':training-job/train-*');
    expect(text).toContain('"iam:PassedToService":"sagemaker.amazonaws.com"');
  });

  it('fails on a runtime over 28 days or an instance type with ml.', () => {
    const s = stack();
    expect(() => new TrainingJobTask(s, 'A', { ...props(s), maxRuntime: Duration.days(30) })).toThrow(
      "a training job's maxRuntime must be 1 second to 28 days, but 30 days was provided",
    );
    const t = stack();
    expect(() => new TrainingJobTask(t, 'B', { ...props(t), instanceType: 'ml.m5.large' })).toThrow(
      'instanceType must be a SageMaker type without ml. (m5.large), but "ml.m5.large" was provided',
    );
  });
});

describe('house defaults', () => {
  it('are resolved once from the config: retention, removal, sizing, and the workflow cap', () => {
    const house = resolveHouseDefaults(resolveEnvironment('production', { env: {} }));
    expect(house.removalPolicy).toBe(RemovalPolicy.RETAIN);
    expect(house.retain).toBe(true);
    expect(house.logs.removalPolicy).toBe(RemovalPolicy.RETAIN);
    expect(house.workflowFunction.reservedConcurrentExecutions ?? 0).toBeLessThanOrEqual(10);
    const s = stack();
    const keyed = withLogsKey(house, new kms.Key(s, 'Logs'));
    expect(keyed.logs.logsEncryptionKey).toBeDefined();
    expect(house.logs.logsEncryptionKey).toBeUndefined();
    expect(resolveHouseDefaults(resolveEnvironment('local', { env: {} })).removalPolicy).toBe(RemovalPolicy.DESTROY);
  });
});
