/** Shared fixtures for the SageMaker runner tests: a real local S3 store and request builders. */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Store } from '../../../lib/local/s3/store';

export const REPO = join(import.meta.dirname, '..', '..', '..');
export const WINE_CSV = join(REPO, 'lib', 'datasets', 'winequality-red.csv');
export const DATA_BUCKET = 'mlops-local-data';
export const MODEL_BUCKET = 'mlops-local-models';
export const ROLE_ARN = 'arn:aws:iam::000000000000:role/mlops-training';

/** A fresh state dir with a store serving the data and model buckets. */
export async function freshStore(): Promise<{ stateDir: string; store: S3Store }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'mlops-sagemaker-'));
  return { stateDir, store: await S3Store.open(stateDir, [DATA_BUCKET, MODEL_BUCKET]) };
}

let counter = 0;
/** A job name no other test uses. */
export const jobName = (what: string) => `${what}-${process.pid}-${++counter}`;

/** A CreateTrainingJob request as a Task's Parameters render it, with one `train` channel. */
export function trainingRequest(
  name: string,
  overrides: Record<string, unknown> = {},
  train = `s3://${DATA_BUCKET}/datasets/wine/`,
): Record<string, unknown> {
  return {
    TrainingJobName: name,
    RoleArn: ROLE_ARN,
    AlgorithmSpecification: {
      TrainingImage: '000000000000.dkr.ecr.us-east-1.amazonaws.com/mlops-kit-trainer:latest',
      TrainingInputMode: 'File',
    },
    HyperParameters: { target: 'quality' },
    InputDataConfig: [
      {
        ChannelName: 'train',
        DataSource: {
          S3DataSource: { S3Uri: train, S3DataType: 'S3Prefix', S3DataDistributionType: 'FullyReplicated' },
        },
        ContentType: 'text/csv',
      },
    ],
    OutputDataConfig: { S3OutputPath: `s3://${MODEL_BUCKET}/jobs` },
    ResourceConfig: { InstanceCount: 1, InstanceType: 'ml.m5.large', VolumeSizeInGB: 10 },
    StoppingCondition: { MaxRuntimeInSeconds: 600 },
    ...overrides,
  };
}

/** A trainer as a node one-liner (CommonJS, so `require` works in `-e`). */
export const nodeTrainer = (code: string): [string, ...string[]] => [process.execPath, '-e', code];

export const never = () => new AbortController().signal;
