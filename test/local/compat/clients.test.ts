/**
 * Client compatibility: the AWS SDK v3 clients (S3, Step Functions, Athena, Lambda, EventBridge,
 * STS, SageMaker, CloudWatch Logs, DynamoDB), the `mlflow` npm client, the `mlops jobs|logs`
 * commands and, where it is installed, the AWS CLI, all unchanged, against one started local
 * platform on the real local stage (synthesized once; no start-up pipelines). The SageMaker jobs
 * run a small node trainer under the container contract, so the API is what is under test.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AthenaClient,
  BatchGetQueryExecutionCommand,
  ListQueryExecutionsCommand,
  ListWorkGroupsCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { CloudWatchLogsClient, DescribeLogStreamsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, ListRulesCommand } from '@aws-sdk/client-eventbridge';
import { GetFunctionCommand, LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateTrainingJobCommand,
  type CreateTrainingJobCommandInput,
  DescribeTrainingJobCommand,
  ListTrainingJobsCommand,
  SageMakerClient,
  StopTrainingJobCommand,
  waitUntilTrainingJobCompletedOrStopped,
} from '@aws-sdk/client-sagemaker';
import { ListActivitiesCommand, ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import MLflow from 'mlflow';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PROJECT_ROOT } from '../../../lib/constructs/mlops-function';
import { type LocalPlatform, startPlatform } from '../../../lib/local/platform';
import { createLocalTrainingRunner } from '../../../lib/local/sagemaker';
import { assemblyDirOf, synthLocalStage } from '../../../lib/local/synth';
import { runMlops } from '../mlops-cli';

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-compat-'));
let platform: LocalPlatform;
let config: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };

/**
 * The trainer: `mode=sleep` waits to be stopped; otherwise it logs two epochs and a metric, saves a
 * model file and exits 0.
 */
const TRAINER = `
const fs = require('fs'), path = require('path');
if (process.env.SM_HP_MODE === 'sleep') { console.log('waiting to be stopped'); setInterval(() => {}, 1000); }
else {
  console.log('epoch 1 loss=0.9'); console.log('epoch 2 loss=0.4'); console.error('validation:rmse=0.61;');
  fs.writeFileSync(path.join(process.env.SM_MODEL_DIR, 'model.txt'), 'weights');
}`;

beforeAll(async () => {
  synthLocalStage(stateDir);
  platform = await startPlatform({
    stateDir,
    assemblyDir: assemblyDirOf(stateDir),
    trainingRunner: ({ store }) =>
      createLocalTrainingRunner({ store, stateDir, trainerCommand: [process.execPath, '-e', TRAINER], stopGraceSeconds: 2 }),
  });
  platform.publish(); // so `mlops` commands (and the CLI binary) find this platform
  config = {
    endpoint: platform.info.awsEndpoint,
    region: platform.info.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
}, 180_000);

afterAll(async () => {
  await platform?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

const errorOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the call to fail');
};

describe('SageMaker (@aws-sdk/client-sagemaker)', () => {
  const sagemaker = () => new SageMakerClient(config);
  const job = (name: string, hyperParameters: Record<string, string> = {}): CreateTrainingJobCommandInput => {
    const bucket = platform.store.buckets[0]!;
    return {
      TrainingJobName: name,
      RoleArn: `arn:aws:iam::${platform.info.account}:role/compat`,
      AlgorithmSpecification: {
        TrainingImage: 'compat-trainer:latest',
        TrainingInputMode: 'File',
        MetricDefinitions: [{ Name: 'validation:rmse', Regex: 'validation:rmse=([0-9.]+);' }],
      },
      HyperParameters: hyperParameters,
      OutputDataConfig: { S3OutputPath: `s3://${bucket}/compat-jobs` },
      ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.m5.large', VolumeSizeInGB: 1 },
      StoppingCondition: { MaxRuntimeInSeconds: 120 },
    };
  };
  const names = { done: `compat-done-${process.pid}`, other: `compat-other-${process.pid}`, stopped: `compat-stop-${process.pid}` };

  it('creates a job, waits with the SDK waiter and describes it in SageMaker’s shape', async () => {
    // act
    const created = await sagemaker().send(new CreateTrainingJobCommand(job(names.done, { alpha: '0.1' })));
    await waitUntilTrainingJobCompletedOrStopped(
      { client: sagemaker(), maxWaitTime: 60, minDelay: 1, maxDelay: 1 },
      { TrainingJobName: names.done },
    );
    const d = await sagemaker().send(new DescribeTrainingJobCommand({ TrainingJobName: names.done }));
    // assess
    expect(created.TrainingJobArn).toBe(d.TrainingJobArn);
    expect(d).toMatchObject({
      TrainingJobName: names.done,
      TrainingJobArn: `arn:aws:sagemaker:${platform.info.region}:${platform.info.account}:training-job/${names.done}`,
      TrainingJobStatus: 'Completed',
      SecondaryStatus: 'Completed',
      HyperParameters: { alpha: '0.1' },
      AlgorithmSpecification: { TrainingImage: 'compat-trainer:latest', TrainingInputMode: 'File' },
      ResourceConfig: { InstanceType: 'ml.m5.large', InstanceCount: 1 },
      StoppingCondition: { MaxRuntimeInSeconds: 120 },
      ModelArtifacts: { S3ModelArtifacts: expect.stringMatching(new RegExp(`/compat-jobs/${names.done}/output/model\\.tar\\.gz$`)) },
      FinalMetricDataList: [{ MetricName: 'validation:rmse', Value: 0.61, Timestamp: expect.any(Date) }],
    });
    // Timestamps arrive as epoch seconds on the wire, which the SDK parses into Dates.
    for (const t of [d.CreationTime, d.TrainingStartTime, d.TrainingEndTime, d.LastModifiedTime]) expect(t).toBeInstanceOf(Date);
    expect(d.TrainingEndTime!.getTime()).toBeGreaterThanOrEqual(d.TrainingStartTime!.getTime());
    expect(d.SecondaryStatusTransitions?.map((t) => t.Status)).toEqual(['Starting', 'Downloading', 'Training', 'Uploading', 'Completed']);
  });

  it('stops a running job with StopTrainingJob', async () => {
    await sagemaker().send(new CreateTrainingJobCommand(job(names.stopped, { mode: 'sleep' })));
    expect((await sagemaker().send(new DescribeTrainingJobCommand({ TrainingJobName: names.stopped }))).TrainingJobStatus).toMatch(
      /^(InProgress|Stopping)$/,
    );
    await sagemaker().send(new StopTrainingJobCommand({ TrainingJobName: names.stopped }));
    await waitUntilTrainingJobCompletedOrStopped(
      { client: sagemaker(), maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
      { TrainingJobName: names.stopped },
    );
    const d = await sagemaker().send(new DescribeTrainingJobCommand({ TrainingJobName: names.stopped }));
    expect(d).toMatchObject({ TrainingJobStatus: 'Stopped', SecondaryStatus: 'Stopped' });
    expect(await errorOf(sagemaker().send(new StopTrainingJobCommand({ TrainingJobName: names.stopped })))).toMatchObject({
      name: 'ValidationException',
      status: 400,
    });
  });

  it('lists with NameContains, StatusEquals, SortBy/SortOrder and MaxResults/NextToken', async () => {
    await sagemaker().send(new CreateTrainingJobCommand(job(names.other)));
    await waitUntilTrainingJobCompletedOrStopped(
      { client: sagemaker(), maxWaitTime: 60, minDelay: 1, maxDelay: 1 },
      { TrainingJobName: names.other },
    );
    const all = await sagemaker().send(new ListTrainingJobsCommand({ NameContains: `-${process.pid}` }));
    expect(all.TrainingJobSummaries?.map((j) => j.TrainingJobName)).toEqual([names.other, names.stopped, names.done]); // newest first
    const completed = await sagemaker().send(
      new ListTrainingJobsCommand({ NameContains: `-${process.pid}`, StatusEquals: 'Completed', SortBy: 'Name', SortOrder: 'Ascending' }),
    );
    expect(completed.TrainingJobSummaries?.map((j) => j.TrainingJobName)).toEqual([names.done, names.other]);
    const paged: string[] = [];
    let NextToken: string | undefined;
    do {
      const page = await sagemaker().send(
        new ListTrainingJobsCommand({ NameContains: `-${process.pid}`, SortBy: 'Name', SortOrder: 'Ascending', MaxResults: 1, NextToken }),
      );
      expect(page.TrainingJobSummaries).toHaveLength(1);
      paged.push(page.TrainingJobSummaries![0]!.TrainingJobName!);
      NextToken = page.NextToken;
    } while (NextToken);
    expect(paged).toEqual([names.done, names.other, names.stopped]);
    expect(all.TrainingJobSummaries![0]).toMatchObject({
      TrainingJobStatus: 'Completed',
      SecondaryStatus: 'Completed',
      CreationTime: expect.any(Date),
      TrainingEndTime: expect.any(Date),
    });
  });

  it('answers as SageMaker for unknown jobs and bad input', async () => {
    expect(await errorOf(sagemaker().send(new DescribeTrainingJobCommand({ TrainingJobName: 'no-such-job' })))).toEqual({
      name: 'ValidationException',
      message: 'Requested resource not found.',
      status: 400,
    });
    expect(await errorOf(sagemaker().send(new StopTrainingJobCommand({ TrainingJobName: 'no-such-job' })))).toMatchObject({
      name: 'ResourceNotFound',
      status: 400,
    });
    expect(await errorOf(sagemaker().send(new ListTrainingJobsCommand({ MaxResults: 500 })))).toMatchObject({
      name: 'ValidationException',
      status: 400,
    });
    expect(await errorOf(sagemaker().send(new ListTrainingJobsCommand({ NextToken: 'forged' })))).toMatchObject({
      name: 'ValidationException',
    });
    expect(await errorOf(sagemaker().send(new CreateTrainingJobCommand(job(names.done))))).toMatchObject({ name: 'ResourceInUse' });
  });

  it("serves the jobs' output as CloudWatch Logs (/aws/sagemaker/TrainingJobs)", async () => {
    const logs = new CloudWatchLogsClient(config);
    const { logStreams = [] } = await logs.send(
      new DescribeLogStreamsCommand({ logGroupName: '/aws/sagemaker/TrainingJobs', logStreamNamePrefix: `${names.done}/` }),
    );
    expect(logStreams.map((s) => s.logStreamName)).toEqual([expect.stringMatching(new RegExp(`^${names.done}/algo-1-\\d+$`))]);
    const { events = [] } = await logs.send(
      new GetLogEventsCommand({ logGroupName: '/aws/sagemaker/TrainingJobs', logStreamName: logStreams[0]!.logStreamName, startFromHead: true }),
    );
    expect(events.map((e) => e.message)).toEqual(['epoch 1 loss=0.9', 'epoch 2 loss=0.4', 'validation:rmse=0.61;']);
    expect(await errorOf(logs.send(new GetLogEventsCommand({ logGroupName: '/aws/lambda/x', logStreamName: 's' })))).toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });

  it('`mlops jobs` and `mlops logs` read them through the running platform', async () => {
    const listed = await mlops('jobs', '--json', '--name-contains', `-${process.pid}`);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout).map((j: { name: string }) => j.name)).toEqual([names.other, names.stopped, names.done]);
    const text = await mlops('jobs', '--status', 'Stopped');
    expect(text.stdout).toMatch(new RegExp(`Stopped .*${names.stopped}`));
    const log = await mlops('logs', names.done);
    expect(log).toMatchObject({ code: 0, stdout: 'epoch 1 loss=0.9\nepoch 2 loss=0.4\nvalidation:rmse=0.61;\n' });
    expect((await mlops('logs', '--latest')).stdout).toContain('epoch 2 loss=0.4');
    expect(await mlops('logs', 'no-such-job')).toMatchObject({ code: 1, stderr: expect.stringContaining('no training job named "no-such-job"') });
    expect((await mlops('logs')).code).toBe(2);
  });

  it('`mlops jobs` works from the real binary too', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(PROJECT_ROOT, 'bin', 'mlops.mjs'), 'jobs', '--json', '--status', 'Completed', '--state-dir', stateDir],
      { cwd: PROJECT_ROOT, timeout: 60_000 },
    );
    expect(JSON.parse(stdout).map((j: { name: string }) => j.name)).toEqual(expect.arrayContaining([names.done, names.other]));
  }, 90_000);
});

describe('S3 versions (@aws-sdk/client-s3)', () => {
  it('keeps dataset versions: a delete marker hides the key, old versions stay readable, ListObjectVersions shows both', async () => {
    const s3 = new S3Client({ ...config, endpoint: platform.info.s3Endpoint });
    const { Buckets = [] } = await s3.send(new ListBucketsCommand({}));
    const Bucket = Buckets[0]!.Name!;
    const Key = `compat/${process.pid}/data.csv`;
    const v1 = await s3.send(new PutObjectCommand({ Bucket, Key, Body: 'a\n1\n' }));
    const v2 = await s3.send(new PutObjectCommand({ Bucket, Key, Body: 'a\n2\n' }));
    const marker = await s3.send(new DeleteObjectCommand({ Bucket, Key }));
    expect(marker.DeleteMarker).toBe(true);
    expect((await errorOf(s3.send(new GetObjectCommand({ Bucket, Key })))).name).toBe('NoSuchKey');
    const old = await s3.send(new GetObjectCommand({ Bucket, Key, VersionId: v1.VersionId }));
    expect(await old.Body!.transformToString()).toBe('a\n1\n');
    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket, Prefix: `compat/${process.pid}/` }));
    expect(listed.DeleteMarkers?.map((m) => [m.VersionId, m.IsLatest])).toEqual([[marker.VersionId, true]]);
    expect(listed.Versions?.map((v) => [v.VersionId, v.IsLatest])).toEqual([
      [v2.VersionId, false],
      [v1.VersionId, false],
    ]);
  });
});

describe('the other control-plane calls', () => {
  it('Step Functions: ListStateMachines and ListActivities', async () => {
    const sfn = new SFNClient(config);
    const { stateMachines = [] } = await sfn.send(new ListStateMachinesCommand({}));
    expect(stateMachines.map((m) => m.name)).toEqual(expect.arrayContaining([expect.stringMatching(/training/i)]));
    const { activities } = await sfn.send(new ListActivitiesCommand({ maxResults: 10 }));
    expect(activities).toEqual([]); // the kit defines no activities
    expect((await errorOf(sfn.send(new ListActivitiesCommand({ nextToken: 'forged' })))).name).toBe('InvalidToken');
  });

  it('Athena: ListWorkGroups, ListQueryExecutions of a work group and BatchGetQueryExecution of what it lists', async () => {
    const athena = new AthenaClient(config);
    const { WorkGroups = [] } = await athena.send(new ListWorkGroupsCommand({}));
    const names = WorkGroups.map((w) => w.Name);
    expect(names).toContain('primary');
    const workGroup = names.find((n) => n !== 'primary')!;
    expect(WorkGroups.find((w) => w.Name === workGroup)).toMatchObject({ State: 'ENABLED', CreationTime: expect.any(Date) });
    const { QueryExecutionId } = await athena.send(new StartQueryExecutionCommand({ QueryString: 'SELECT 1', WorkGroup: workGroup }));
    const { QueryExecutionIds = [] } = await athena.send(new ListQueryExecutionsCommand({ WorkGroup: workGroup }));
    expect(QueryExecutionIds).toContain(QueryExecutionId);
    expect(await errorOf(athena.send(new ListQueryExecutionsCommand({ WorkGroup: 'nope' })))).toMatchObject({
      name: 'InvalidRequestException',
      message: 'WorkGroup nope is not found.',
    });
    expect((await errorOf(athena.send(new ListWorkGroupsCommand({ MaxResults: 51 })))).name).toBe('InvalidRequestException');

    const batch = await athena.send(new BatchGetQueryExecutionCommand({ QueryExecutionIds: [QueryExecutionId!, 'no-such-query'] }));
    expect(batch.QueryExecutions).toHaveLength(1);
    expect(batch.QueryExecutions![0]).toMatchObject({
      QueryExecutionId,
      Query: 'SELECT 1',
      WorkGroup: workGroup,
      Status: { State: expect.stringMatching(/^(QUEUED|RUNNING|SUCCEEDED)$/), SubmissionDateTime: expect.any(Date) },
    });
    expect(batch.UnprocessedQueryExecutionIds).toEqual([
      { QueryExecutionId: 'no-such-query', ErrorMessage: expect.stringContaining('not known') },
    ]);
    expect(await errorOf(athena.send(new BatchGetQueryExecutionCommand({ QueryExecutionIds: [] })))).toMatchObject({
      name: 'InvalidRequestException',
      message: expect.stringMatching(/list of 1 to 50 .* but 0 were provided$/),
    });
  });

  it('Lambda: ListFunctions and GetFunction (REST-JSON), ResourceNotFoundException for no such function', async () => {
    const lambda = new LambdaClient(config);
    const { Functions = [] } = await lambda.send(new ListFunctionsCommand({}));
    const name = Functions[0]!.FunctionName!;
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
    expect(got.Configuration).toMatchObject({
      FunctionName: name,
      FunctionArn: Functions[0]!.FunctionArn,
      Runtime: expect.stringMatching(/^nodejs/),
      Handler: expect.any(String),
      Timeout: expect.any(Number),
      MemorySize: expect.any(Number),
      State: 'Active',
    });
    expect((await lambda.send(new GetFunctionCommand({ FunctionName: Functions[0]!.FunctionArn }))).Configuration?.FunctionName).toBe(name);
    expect(await errorOf(lambda.send(new GetFunctionCommand({ FunctionName: 'no-such-function' })))).toMatchObject({
      name: 'ResourceNotFoundException',
      status: 404,
    });
  });

  it('EventBridge: ListRules per bus answers exactly the stage’s rules, with Limit paging', async () => {
    // (Filters and paging over a stage with several rules: test/local/compat/control-plane.test.ts.)
    const eventbridge = new EventBridgeClient(config);
    const rules = platform.stage.resourcesOfType('AWS::Events::Rule').map((r) => platform.stage.physicalName(r));
    const buses = ['default', ...platform.stage.resourcesOfType('AWS::Events::EventBus').map((r) => platform.stage.physicalName(r))];
    const seen: string[] = [];
    for (const EventBusName of buses) {
      let NextToken: string | undefined;
      do {
        const page = await eventbridge.send(new ListRulesCommand({ EventBusName, Limit: 1, NextToken }));
        expect(page.Rules!.length).toBeLessThanOrEqual(1);
        seen.push(...page.Rules!.map((r) => r.Name!));
        NextToken = page.NextToken;
      } while (NextToken);
    }
    expect(seen.sort()).toEqual([...rules].sort());
    expect((await errorOf(eventbridge.send(new ListRulesCommand({ Limit: 101 })))).name).toBe('ValidationException');
  });

  it('STS: GetCallerIdentity answers the local account in the query protocol’s XML', async () => {
    const id = await new STSClient(config).send(new GetCallerIdentityCommand({}));
    expect(id).toMatchObject({ Account: platform.info.account, Arn: `arn:aws:iam::${platform.info.account}:root` });
  });

  it('DynamoDB: ListTables and DescribeTable', async () => {
    const dynamodb = new DynamoDBClient({ ...config, endpoint: platform.info.dynamodbEndpoint });
    const { TableNames = [] } = await dynamodb.send(new ListTablesCommand({}));
    expect(TableNames.length).toBeGreaterThan(0);
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: TableNames[0] }));
    expect(Table).toMatchObject({ TableName: TableNames[0], TableStatus: 'ACTIVE' });
  });
});

describe('MLflow (the `mlflow` npm client, and its wire calls where the client is broken)', () => {
  // The npm client logs every POST body with console.log; keep the test output readable.
  const quiet = () => vi.spyOn(console, 'log').mockImplementation(() => undefined);
  const client = () => new MLflow({ endpoint: platform.gatewayUrl });
  const api = (path: string) => `${platform.gatewayUrl}/api/2.0/mlflow/${path}`;

  it('renames, tags, deletes and restores an experiment', async () => {
    const log = quiet();
    try {
      const { Experiments } = client();
      const { experiment_id } = await Experiments.create({ name: `compat-${process.pid}`, artifact_location: '' });
      await Experiments.update({ experiment_id, new_name: `compat-renamed-${process.pid}` });
      expect((await Experiments.get({ experiment_id })).experiment.name).toBe(`compat-renamed-${process.pid}`);
      // The client's setExperimentTag drops the `/` before `set-experiment-tag`, so its URL is wrong;
      // this is the call MLflow's Python client makes.
      const tagged = await fetch(api('experiments/set-experiment-tag'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ experiment_id, key: 'team', value: 'ml' }),
      });
      expect([tagged.status, await tagged.json()]).toEqual([200, {}]);
      await Experiments.delete({ experiment_id });
      expect((await Experiments.get({ experiment_id })).experiment.lifecycle_stage).toBe('deleted');
      await Experiments.restore({ experiment_id });
      const restored = (await Experiments.get({ experiment_id })).experiment;
      expect(restored).toMatchObject({ lifecycle_stage: 'active', tags: [{ key: 'team', value: 'ml' }] });
      // MLflow's error body reaches the client.
      await expect(Experiments.restore({ experiment_id })).rejects.toThrow(/RESOURCE_DOES_NOT_EXIST/);
    } finally {
      log.mockRestore();
    }
  });

  it("deletes a run's tag, deletes and restores the run, and lists its artifacts", async () => {
    const log = quiet();
    try {
      const { Experiments, Runs, Artifacts } = client();
      const { experiment_id } = await Experiments.create({ name: `compat-runs-${process.pid}`, artifact_location: '' });
      const { run } = await Runs.create({ experiment_id, user_id: 'compat', start_time: Date.now(), tags: [] });
      const runId: string = run.info.run_id;
      await Runs.setTag({ run_id: runId, key: 'owner', value: 'me' });
      await Runs.deleteTag({ run_id: runId, key: 'owner' });
      expect((await Runs.get({ run_id: runId })).run.data.tags.map((t: { key: string }) => t.key)).not.toContain('owner');
      await Runs.delete({ run_id: runId });
      expect((await Runs.get({ run_id: runId })).run.info.lifecycle_stage).toBe('deleted');
      await Runs.restore({ run_id: runId });
      expect((await Runs.get({ run_id: runId })).run.info.lifecycle_stage).toBe('active');

      const [, Bucket, prefix] = /^s3:\/\/([^/]+)\/(.*)$/.exec(run.info.artifact_uri)!;
      const s3 = new S3Client({ ...config, endpoint: platform.info.s3Endpoint });
      await s3.send(new PutObjectCommand({ Bucket, Key: `${prefix}/model/MLmodel`, Body: 'flavors: {}\n' }));
      await s3.send(new PutObjectCommand({ Bucket, Key: `${prefix}/metrics.json`, Body: '{}' }));
      expect(await Artifacts.list({ run_id: runId, path: '' })).toEqual({
        root_uri: run.info.artifact_uri,
        files: [
          { path: 'metrics.json', is_dir: false, file_size: 2 },
          { path: 'model', is_dir: true },
        ],
      });
      expect((await Artifacts.list({ run_id: runId, path: 'model' })).files).toEqual([
        { path: 'model/MLmodel', is_dir: false, file_size: 12 },
      ]);
    } finally {
      log.mockRestore();
    }
  });
});

const awsCli = await promisify(execFile)('aws', ['--version']).then(
  () => true,
  () => false,
);

describe.skipIf(!awsCli)('the AWS CLI with --endpoint-url', () => {
  const aws = async (...args: string[]) => {
    const { stdout } = await promisify(execFile)('aws', [...args, '--output', 'json'], {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_DEFAULT_REGION: platform.info.region,
        AWS_PAGER: '',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      },
      timeout: 60_000,
    });
    return JSON.parse(stdout);
  };

  it('answers sts, sagemaker, lambda, athena, events and s3api', async () => {
    const url = platform.info.awsEndpoint;
    expect((await aws('sts', 'get-caller-identity', '--endpoint-url', url)).Account).toBe(platform.info.account);
    const jobs = await aws('sagemaker', 'list-training-jobs', '--name-contains', `-${process.pid}`, '--endpoint-url', url);
    expect(jobs.TrainingJobSummaries.length).toBeGreaterThanOrEqual(1);
    const name = jobs.TrainingJobSummaries[0].TrainingJobName;
    expect((await aws('sagemaker', 'describe-training-job', '--training-job-name', name, '--endpoint-url', url)).TrainingJobName).toBe(name);
    const fns = await aws('lambda', 'list-functions', '--endpoint-url', url);
    const fn = fns.Functions[0].FunctionName;
    expect((await aws('lambda', 'get-function', '--function-name', fn, '--endpoint-url', url)).Configuration.FunctionName).toBe(fn);
    const groups: string[] = (await aws('athena', 'list-work-groups', '--endpoint-url', url)).WorkGroups.map((w: { Name: string }) => w.Name);
    expect(groups).toContain('primary');
    const ran = await aws('athena', 'list-query-executions', '--work-group', groups.find((g) => g !== 'primary')!, '--endpoint-url', url);
    const batch = await aws('athena', 'batch-get-query-execution', '--query-execution-ids', ran.QueryExecutionIds[0], 'missing-id', '--endpoint-url', url);
    expect(batch.QueryExecutions.map((q: { QueryExecutionId: string }) => q.QueryExecutionId)).toEqual([ran.QueryExecutionIds[0]]);
    expect(batch.UnprocessedQueryExecutionIds.map((q: { QueryExecutionId: string }) => q.QueryExecutionId)).toEqual(['missing-id']);
    expect(Array.isArray((await aws('events', 'list-rules', '--endpoint-url', url)).Rules)).toBe(true);
    const bucket = platform.store.buckets[0]!;
    const versions = await aws('s3api', 'list-object-versions', '--bucket', bucket, '--prefix', `compat/${process.pid}/`, '--endpoint-url', platform.info.s3Endpoint);
    expect(versions.DeleteMarkers).toHaveLength(1);
  }, 120_000);
});

const mlops = (...argv: string[]) => runMlops(stateDir, ...argv);
