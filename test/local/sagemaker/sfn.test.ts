/**
 * Through the real Step Functions runner: a CDK `SageMakerCreateTrainingJob` Task (RUN_JOB, so
 * `createTrainingJob.sync`) synthesized in a test stack, read from the cloud assembly, and run on
 * the wine data with the real trainer. CDK renders the S3 locations as `https://s3.<region>…` URLs,
 * so this also holds the runner to the form real templates carry.
 */
import { mkdtempSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Stage } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { beforeAll, describe, expect, it } from 'vitest';
import { readAssembly } from '../../../lib/local/assembly';
import { S3Store } from '../../../lib/local/s3/store';
import { createLocalTrainingRunner, type LocalTrainingRunner } from '../../../lib/local/sagemaker';
import {
  IntegrationRegistry,
  LocalStepFunctions,
  loadStateMachines,
  type StateMachineSpec,
  sagemakerIntegrations,
} from '../../../lib/local/sfn';
import { readModelFromArchive } from '../../../lib/model/archive';
import { METRIC_DEFINITIONS } from '../../../lib/trainer/contract';
import { WINE_CSV } from './helpers';

function synthTrainingApp(): string {
  const outdir = mkdtempSync(join(tmpdir(), 'mlops-sagemaker-assembly-'));
  const app = new App({ outdir });
  const stage = new Stage(app, 'Local', { env: { account: '000000000000', region: 'us-east-1' } });
  const stack = new Stack(stage, 'Pipeline');
  const lake = new s3.Bucket(stack, 'Lake');
  const train = new tasks.SageMakerCreateTrainingJob(stack, 'Train', {
    integrationPattern: sfn.IntegrationPattern.RUN_JOB,
    trainingJobName: sfn.JsonPath.stringAt('$$.Execution.Name'),
    algorithmSpecification: {
      trainingImage: tasks.DockerImage.fromRegistry('mlops-kit-trainer:latest'),
      metricDefinitions: METRIC_DEFINITIONS.map((d) => ({ name: d.Name, regex: d.Regex })),
    },
    hyperparameters: { target: sfn.JsonPath.stringAt('$.target'), alpha: '0.1' },
    inputDataConfig: [
      {
        channelName: 'train',
        contentType: 'text/csv',
        dataSource: { s3DataSource: { s3Location: tasks.S3Location.fromBucket(lake, 'datasets/wine/') } },
      },
    ],
    outputDataConfig: { s3OutputLocation: tasks.S3Location.fromBucket(lake, 'models') },
    resultSelector: {
      'model.$': '$.ModelArtifacts.S3ModelArtifacts',
      'status.$': '$.TrainingJobStatus',
      'metrics.$': '$.FinalMetricDataList',
    },
    resultPath: '$.training',
  });
  new sfn.StateMachine(stack, 'Training', { definitionBody: sfn.DefinitionBody.fromChainable(train) });
  app.synth();
  return outdir;
}

describe('createTrainingJob.sync in a synthesized state machine', () => {
  let sfnService: LocalStepFunctions;
  let machine: StateMachineSpec;
  let store: S3Store;
  let bucket: string;
  let trainer: LocalTrainingRunner;

  beforeAll(async () => {
    const stage = readAssembly(synthTrainingApp(), { stage: 'Local' });
    bucket = stage.physicalName(stage.resourceAt('Local/Pipeline/Lake')!);
    const stateDir = mkdtempSync(join(tmpdir(), 'mlops-sagemaker-sfn-'));
    store = await S3Store.open(stateDir, [bucket]);
    await store.put(bucket, 'datasets/wine/winequality-red.csv', await readFile(WINE_CSV));
    trainer = createLocalTrainingRunner({ store, stateDir });
    [machine] = loadStateMachines(stage) as [StateMachineSpec];
    sfnService = new LocalStepFunctions({
      stateDir,
      machines: [machine],
      integrations: new IntegrationRegistry().use(sagemakerIntegrations(trainer)),
    });
  });

  it('renders the https:// S3 URL form the runner has to accept', () => {
    const params = machine.definition.States['Train']?.['Parameters'] as {
      InputDataConfig: { DataSource: { S3DataSource: { S3Uri: string } } }[];
    };
    expect(machine.definition.States['Train']?.['Resource']).toBe(
      'arn:aws:states:::sagemaker:createTrainingJob.sync',
    );
    expect(params.InputDataConfig[0]!.DataSource.S3DataSource.S3Uri).toBe(
      `https://s3.us-east-1.amazonaws.com/${bucket}/datasets/wine/`,
    );
  });

  it('succeeds with ModelArtifacts.S3ModelArtifacts in the state output, pointing at a valid model', async () => {
    // act
    const { executionArn } = await sfnService.startExecution({
      stateMachineArn: machine.arn,
      name: 'wine-sfn-ok',
      input: { target: 'quality' },
    });
    const result = await sfnService.waitForExecution(executionArn);
    // assess
    expect(result.error).toBeUndefined();
    expect(result.status).toBe('SUCCEEDED');
    const output = JSON.parse(result.output!) as {
      target: string;
      training: {
        model: string;
        status: string;
        metrics: { MetricName: string; Value: number; Timestamp: number }[];
      };
    };
    expect(output.training.status).toBe('Completed');
    expect(output.training.model).toBe(`s3://${bucket}/models/wine-sfn-ok/output/model.tar.gz`);
    const model = readModelFromArchive(
      await store.getBytes(bucket, 'models/wine-sfn-ok/output/model.tar.gz'),
    );
    expect(model.hyperparameters.alpha).toBe(0.1);
    const rmse = output.training.metrics.find((m) => m.MetricName === 'train:rmse');
    expect(rmse?.Value).toBe(model.metrics.train.rmse);
    expect(typeof rmse?.Timestamp).toBe('number'); // dates leave the Task as epoch millis
  });

  it('fails the execution with States.TaskFailed and the job description as Cause when training fails', async () => {
    const { executionArn } = await sfnService.startExecution({
      stateMachineArn: machine.arn,
      name: 'wine-sfn-bad-target',
      input: { target: 'sweetness' },
    });
    const result = await sfnService.waitForExecution(executionArn);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.TaskFailed');
    const cause = JSON.parse(result.cause!) as { TrainingJobStatus: string; FailureReason: string };
    expect(cause.TrainingJobStatus).toBe('Failed');
    expect(cause.FailureReason).toMatch(
      /^AlgorithmError: train\/winequality-red\.csv: the target column "sweetness" is missing/,
    );
  });

  it('fails with SageMaker.AmazonSageMakerException when a job of that name already ran', async () => {
    // prepare: the job name the execution will use, taken by a job run outside Step Functions
    await trainer.run(
      {
        TrainingJobName: 'wine-sfn-taken',
        RoleArn: 'arn:aws:iam::000000000000:role/any',
        AlgorithmSpecification: { TrainingImage: 'mlops-kit-trainer:latest', TrainingInputMode: 'File' },
        HyperParameters: { target: 'quality' },
        InputDataConfig: [
          {
            ChannelName: 'train',
            DataSource: { S3DataSource: { S3Uri: `s3://${bucket}/datasets/wine/`, S3DataType: 'S3Prefix' } },
          },
        ],
        OutputDataConfig: { S3OutputPath: `s3://${bucket}/elsewhere` },
        ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.m5.large', VolumeSizeInGB: 10 },
        StoppingCondition: { MaxRuntimeInSeconds: 60 },
      },
      { signal: new AbortController().signal },
    );
    // act
    const { executionArn } = await sfnService.startExecution({
      stateMachineArn: machine.arn,
      name: 'wine-sfn-taken',
      input: { target: 'quality' },
    });
    const result = await sfnService.waitForExecution(executionArn);
    // assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('SageMaker.AmazonSageMakerException');
    expect(result.cause).toMatch(/^Training job names must be unique .*Error Code: ResourceInUse/);
  });
});
