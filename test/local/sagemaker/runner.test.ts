/**
 * The local training-job runner with the real local S3 store and the real trainer: a wine job end to
 * end, failures, stops (runtime limit, abort), duplicate names, the address forms and the request
 * checks SageMaker would make.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { S3Store } from '../../../lib/local/s3/store';
import {
  createLocalTrainingRunner,
  type LocalTrainingRunner,
  SageMakerApiError,
} from '../../../lib/local/sagemaker';
import { listArchive, readModelFromArchive } from '../../../lib/model/archive';
import { METRIC_DEFINITIONS } from '../../../lib/trainer/contract';
import {
  DATA_BUCKET,
  freshStore,
  jobName,
  MODEL_BUCKET,
  never,
  nodeTrainer,
  trainingRequest,
  WINE_CSV,
} from './helpers';

let stateDir: string;
let store: S3Store;
let runner: LocalTrainingRunner;
const logged: { line: string; job: string; stream: string }[] = [];

beforeAll(async () => {
  ({ stateDir, store } = await freshStore());
  const wine = await readFile(WINE_CSV);
  await store.put(DATA_BUCKET, 'datasets/wine/winequality-red.csv', wine, { contentType: 'text/csv' });
  await store.put(DATA_BUCKET, 'datasets/wine-validation/part-0.csv', wine);
  await store.put(DATA_BUCKET, 'datasets/broken/part-0.csv', 'alcohol;acidity\n9.4;0.7\n10.1;0.5\n');
  runner = createLocalTrainingRunner({
    store,
    stateDir,
    log: (line, { trainingJobName, stream }) => logged.push({ line, job: trainingJobName, stream }),
  });
});

const keysUnder = async (bucket: string, prefix: string) =>
  (await store.list(bucket, { prefix })).contents.map((o) => o.key);

describe('a wine training job with the kit’s trainer', () => {
  it('completes, lands model.tar.gz at <S3OutputPath>/<name>/output/ and reports the final metrics', async () => {
    // prepare
    const name = jobName('wine');
    const request = trainingRequest(name, {
      AlgorithmSpecification: {
        TrainingImage: 'mlops-kit-trainer:latest',
        TrainingInputMode: 'File',
        MetricDefinitions: METRIC_DEFINITIONS,
      },
      HyperParameters: { target: 'quality', alpha: '0.1', l1_ratio: '0.5' },
      // As the kit's pipeline asks (issue 18); the local trainer runs anyway and both are echoed.
      EnableNetworkIsolation: true,
      VpcConfig: { SecurityGroupIds: ['sg-0123456789abcdef0'], Subnets: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'] },
    });
    (request['InputDataConfig'] as unknown[]).push({
      ChannelName: 'validation',
      DataSource: {
        S3DataSource: { S3Uri: `s3://${DATA_BUCKET}/datasets/wine-validation`, S3DataType: 'S3Prefix' },
      },
      ContentType: 'text/csv',
    });
    // act
    const started = performance.now();
    const job = await runner.run(request, { signal: never() });
    const wall = performance.now() - started;
    // assess: the description
    expect(job.FailureReason).toBeUndefined();
    expect(job.TrainingJobStatus).toBe('Completed');
    expect(job.SecondaryStatus).toBe('Completed');
    expect(job.EnableNetworkIsolation).toBe(true);
    expect(job.VpcConfig).toEqual({ SecurityGroupIds: ['sg-0123456789abcdef0'], Subnets: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'] });
    expect(job.TrainingJobArn).toBe(
      `arn:aws:sagemaker:us-east-1:000000000000:training-job/${name.toLowerCase()}`,
    );
    expect(job.ModelArtifacts?.S3ModelArtifacts).toBe(
      `s3://${MODEL_BUCKET}/jobs/${name}/output/model.tar.gz`,
    );
    expect(job.SecondaryStatusTransitions.map((t) => t.Status)).toEqual([
      'Starting',
      'Downloading',
      'Training',
      'Uploading',
      'Completed',
    ]);
    expect(job.TrainingEndTime!.getTime()).toBeGreaterThanOrEqual(job.TrainingStartTime.getTime());
    expect(job.TrainingStartTime.getTime()).toBeGreaterThanOrEqual(job.CreationTime.getTime());
    expect(job.BillableTimeInSeconds).toBe(job.TrainingTimeInSeconds);
    expect(job.HyperParameters).toEqual({ target: 'quality', alpha: '0.1', l1_ratio: '0.5' });
    // assess: the artifact is a valid model, and the scraped metrics are its metrics exactly
    const archive = await store.getBytes(MODEL_BUCKET, `jobs/${name}/output/model.tar.gz`);
    expect(listArchive(archive).map((e) => e.path)).toEqual(['model.json']);
    const model = readModelFromArchive(archive);
    expect(model.hyperparameters.alpha).toBe(0.1);
    expect(model.metrics.train.rows).toBe(1599);
    const metrics = Object.fromEntries(job.FinalMetricDataList.map((m) => [m.MetricName, m.Value]));
    expect(metrics).toEqual({
      'train:rmse': model.metrics.train.rmse,
      'train:mae': model.metrics.train.mae,
      'train:r2': model.metrics.train.r2,
      'validation:rmse': model.metrics.validation!.rmse,
      'validation:mae': model.metrics.validation!.mae,
      'validation:r2': model.metrics.validation!.r2,
    });
    // assess: the /opt/ml mirror, as SageMaker writes it
    const dir = runner.jobDir(name);
    expect(JSON.parse(await readFile(join(dir, 'input/config/hyperparameters.json'), 'utf8'))).toEqual(
      job.HyperParameters,
    );
    expect(JSON.parse(await readFile(join(dir, 'input/config/inputdataconfig.json'), 'utf8'))).toEqual({
      train: {
        ContentType: 'text/csv',
        TrainingInputMode: 'File',
        S3DistributionType: 'FullyReplicated',
        RecordWrapperType: 'None',
      },
      validation: {
        ContentType: 'text/csv',
        TrainingInputMode: 'File',
        S3DistributionType: 'FullyReplicated',
        RecordWrapperType: 'None',
      },
    });
    const resources = JSON.parse(await readFile(join(dir, 'input/config/resourceconfig.json'), 'utf8'));
    expect(resources).toMatchObject({
      current_host: 'algo-1',
      hosts: ['algo-1'],
      current_instance_type: 'ml.m5.large',
    });
    // `datasets/wine-validation` (no slash) keeps the key's path from the prefix's last `/`.
    expect((await stat(join(dir, 'input/data/train/winequality-red.csv'))).size).toBe(
      (await stat(WINE_CSV)).size,
    );
    expect((await stat(join(dir, 'input/data/validation/wine-validation/part-0.csv'))).isFile()).toBe(true);
    // assess: the trainer's output reached the log sink and the job log
    const lines = logged.filter((l) => l.job === name);
    expect(lines.some((l) => l.stream === 'stdout' && /^train_rmse=/.test(l.line))).toBe(true);
    expect(await readFile(join(dir, 'job.log'), 'utf8')).toMatch(/^model written to .*1599 rows/m);
    expect(await runner.describe(name)).toEqual(job);
    console.info(`wine training job, end to end: ${wall.toFixed(0)} ms (includes the first bundle build)`);
  });

  it('fails with the trainer’s reason and leaves no artifact when the data lacks the target', async () => {
    const name = jobName('broken');
    const job = await runner.run(trainingRequest(name, {}, `s3://${DATA_BUCKET}/datasets/broken/`), {
      signal: never(),
    });
    expect(job.TrainingJobStatus).toBe('Failed');
    expect(job.SecondaryStatus).toBe('Failed');
    expect(job.FailureReason).toBe(
      'AlgorithmError: train/part-0.csv: the target column "quality" is missing; columns are: "alcohol", "acidity", exit code: 1',
    );
    expect(job.ModelArtifacts).toBeUndefined();
    expect(job.SecondaryStatusTransitions.map((t) => t.Status)).toEqual([
      'Starting',
      'Downloading',
      'Training',
      'Failed',
    ]);
    expect(await keysUnder(MODEL_BUCKET, `jobs/${name}/`)).toEqual([]);
    expect(await readFile(join(runner.jobDir(name), 'job.log'), 'utf8')).toMatch(/^training failed: /m);
  });

  it('fails as SageMaker does when a channel prefix holds no objects, without starting the trainer', async () => {
    const name = jobName('empty');
    const job = await runner.run(trainingRequest(name, {}, `s3://${DATA_BUCKET}/nothing-here/`), {
      signal: never(),
    });
    expect(job.TrainingJobStatus).toBe('Failed');
    expect(job.FailureReason).toMatch(
      /^ClientError: No S3 objects found under S3 URL "s3:\/\/mlops-local-data\/nothing-here\/"/,
    );
    expect(job.SecondaryStatusTransitions.map((t) => t.Status)).not.toContain('Training');
  });
});

describe('stopping a job', () => {
  it('stops at MaxRuntimeInSeconds (SIGTERM, SIGKILL after the grace) and uploads what the trainer saved', async () => {
    // prepare: a trainer that saves a model on SIGTERM and then refuses to exit
    const sleeper = createLocalTrainingRunner({
      store,
      stateDir,
      stopGraceSeconds: 0.5,
      trainerCommand: nodeTrainer(`
        const fs = require('fs');
        process.on('SIGTERM', () => {
          fs.writeFileSync(process.env.SM_MODEL_DIR + '/checkpoint.json', '{"epoch":3}');
          console.log('saved a checkpoint');
        });
        console.log('training forever');
        setInterval(() => {}, 1000);`),
    });
    const name = jobName('slow');
    // act
    const started = performance.now();
    const job = await sleeper.run(trainingRequest(name, { StoppingCondition: { MaxRuntimeInSeconds: 1 } }), {
      signal: never(),
    });
    const elapsed = performance.now() - started;
    // assess: SageMaker's answer for a job that hit its limit, not a failure
    expect(job.TrainingJobStatus).toBe('Stopped');
    expect(job.SecondaryStatus).toBe('MaxRuntimeExceeded');
    expect(job.FailureReason).toBeUndefined();
    expect(job.SecondaryStatusTransitions.map((t) => t.Status)).toEqual([
      'Starting',
      'Downloading',
      'Training',
      'Stopping',
      'MaxRuntimeExceeded',
    ]);
    expect(elapsed).toBeGreaterThanOrEqual(1400); // 1 s limit + 0.5 s grace (the trainer ignored SIGTERM)
    expect(elapsed).toBeLessThan(10_000);
    expect(await readFile(join(sleeper.jobDir(name), 'job.log'), 'utf8')).toBe(
      'training forever\nsaved a checkpoint\n',
    );
    const archive = await store.getBytes(MODEL_BUCKET, `jobs/${name}/output/model.tar.gz`);
    expect(listArchive(archive).map((e) => [e.path, e.data.toString()])).toEqual([
      ['checkpoint.json', '{"epoch":3}'],
    ]);
    expect(job.ModelArtifacts?.S3ModelArtifacts).toBe(
      `s3://${MODEL_BUCKET}/jobs/${name}/output/model.tar.gz`,
    );
  });

  it('stops when the signal aborts: the process is killed and the job is Stopped', async () => {
    const sleeper = createLocalTrainingRunner({
      store,
      stateDir,
      trainerCommand: nodeTrainer(`console.log('started'); setInterval(() => {}, 1000);`),
      log: (line) => {
        if (line === 'started') controller.abort();
      },
    });
    const controller = new AbortController();
    const name = jobName('aborted');
    const started = performance.now();
    const job = await sleeper.run(trainingRequest(name), { signal: controller.signal });
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(job.TrainingJobStatus).toBe('Stopped');
    expect(job.SecondaryStatus).toBe('Stopped');
    expect(job.ModelArtifacts).toBeUndefined(); // nothing saved, nothing uploaded
    expect(await keysUnder(MODEL_BUCKET, `jobs/${name}/`)).toEqual([]);
  });

  it('does not start the trainer when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const name = jobName('pre-aborted');
    const job = await createLocalTrainingRunner({
      store,
      stateDir,
      trainerCommand: nodeTrainer(`require('fs').writeFileSync('ran', '')`),
    }).run(trainingRequest(name), { signal: controller.signal });
    expect(job.TrainingJobStatus).toBe('Stopped');
    expect(job.SecondaryStatusTransitions.map((t) => t.Status)).not.toContain('Training');
    await expect(stat(join(runner.jobDir(name), 'ran'))).rejects.toThrow(/ENOENT/);
  });
});

describe('what the SageMaker API reads of a job (Describe, List, Stop, logs)', () => {
  it('describes a running job live, stops it on request, keeps its log, and refuses a second stop', async () => {
    // prepare: a trainer that prints, then waits to be stopped
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const sleeper = createLocalTrainingRunner({
      store,
      stateDir,
      trainerCommand: nodeTrainer(`console.log('epoch 1 loss=0.5'); setInterval(() => {}, 1000);`),
      log: (line) => line.startsWith('epoch') && started(),
    });
    const name = jobName('stoppable');
    const job = sleeper.run(trainingRequest(name), { signal: never() });
    await running;
    // act + assess: live description and log, while it runs
    const live = await sleeper.describe(name);
    expect(live).toMatchObject({ TrainingJobName: name, TrainingJobStatus: 'InProgress', SecondaryStatus: 'Training' });
    expect(live!.TrainingEndTime).toBeUndefined();
    expect((await sleeper.list()).map((d) => d.TrainingJobName)).toContain(name);
    await expect.poll(() => sleeper.logs(name)).toContain('epoch 1 loss=0.5');
    // act: StopTrainingJob
    await sleeper.stop(name);
    const ended = await job;
    // assess
    expect(ended.TrainingJobStatus).toBe('Stopped');
    expect(await sleeper.describe(name)).toMatchObject({ TrainingJobStatus: 'Stopped' });
    expect(await sleeper.logs(name)).toBe('epoch 1 loss=0.5\n');
    await expect(sleeper.stop(name)).rejects.toMatchObject({
      code: 'ValidationException',
      detail: 'The request was rejected because the training job is in status Stopped.',
    });
  });

  it('answers ResourceNotFound for stopping a job that does not exist, and undefined for describing or reading it', async () => {
    await expect(runner.stop('no-such-job')).rejects.toMatchObject({ code: 'ResourceNotFound' });
    expect(await runner.describe('no-such-job')).toBeUndefined();
    expect(await runner.describe('../../etc')).toBeUndefined();
    expect(await runner.logs('no-such-job')).toBeUndefined();
  });

  it('answers Failed for a job a stopped platform left InProgress', async () => {
    // prepare: a job whose runner is gone (a second runner over the same state dir)
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const first = createLocalTrainingRunner({
      store,
      stateDir,
      trainerCommand: nodeTrainer(`console.log('up'); setInterval(() => {}, 1000);`),
      log: () => started(),
    });
    const name = jobName('orphan');
    const job = first.run(trainingRequest(name), { signal: AbortSignal.timeout(30_000) });
    await running;
    // act
    const seen = await createLocalTrainingRunner({ store, stateDir }).describe(name);
    // assess
    expect(seen).toMatchObject({ TrainingJobStatus: 'Failed', FailureReason: expect.stringMatching(/stopped while the job was running/) });
    await first.stop(name);
    await job;
  });
});

describe('the contract a custom trainer sees', () => {
  it('gets SM_* paths, the request’s Environment (which cannot redirect them) and no host variables', async () => {
    process.env['MLOPS_TEST_HOST_SECRET'] = 'do-not-leak';
    const dumper = createLocalTrainingRunner({
      store,
      stateDir,
      trainerCommand: nodeTrainer(`
        const fs = require('fs');
        fs.writeFileSync(process.env.SM_OUTPUT_DATA_DIR + '/env.json', JSON.stringify(process.env));
        fs.writeFileSync(process.env.SM_MODEL_DIR + '/model.bin', 'weights');`),
    });
    const name = jobName('env');
    const job = await dumper.run(
      trainingRequest(name, { Environment: { MLOPS_DATA_VERSION: '{"v":1}', SM_MODEL_DIR: '/elsewhere' } }),
      { signal: never() },
    );
    delete process.env['MLOPS_TEST_HOST_SECRET'];
    expect(job.TrainingJobStatus).toBe('Completed');
    // extra output goes to output.tar.gz next to model.tar.gz
    expect(job.OutputDataArtifacts).toBe(`s3://${MODEL_BUCKET}/jobs/${name}/output/output.tar.gz`);
    const out = listArchive(await store.getBytes(MODEL_BUCKET, `jobs/${name}/output/output.tar.gz`));
    const env = JSON.parse(out.find((e) => e.path === 'env.json')!.data.toString()) as Record<string, string>;
    const dir = runner.jobDir(name);
    expect(env).toMatchObject({
      TRAINING_JOB_NAME: name,
      SM_MODEL_DIR: join(dir, 'model'),
      SM_CHANNEL_TRAIN: join(dir, 'input', 'data', 'train'),
      SM_CHANNELS: '["train"]',
      SM_INPUT_CONFIG_DIR: join(dir, 'input', 'config'),
      SM_OUTPUT_DIR: join(dir, 'output'),
      SM_OUTPUT_DATA_DIR: join(dir, 'output', 'data'),
      SM_HPS: '{"target":"quality"}',
      SM_HP_TARGET: 'quality',
      SM_CURRENT_HOST: 'algo-1',
      SM_HOSTS: '["algo-1"]',
      MLOPS_DATA_VERSION: '{"v":1}',
    });
    expect(env['MLOPS_TEST_HOST_SECRET']).toBeUndefined();
  });
});

describe('requests SageMaker would refuse', () => {
  const quick = () =>
    createLocalTrainingRunner({ store, stateDir, trainerCommand: nodeTrainer('process.exit(0)') });

  it('fails if a job of the same name ran before (ResourceInUse)', async () => {
    const r = quick();
    const name = jobName('twice');
    expect((await r.run(trainingRequest(name), { signal: never() })).TrainingJobStatus).toBe('Completed');
    const second = r.run(trainingRequest(name), { signal: never() });
    await expect(second).rejects.toThrow(SageMakerApiError);
    await expect(second).rejects.toMatchObject({
      name: 'ResourceInUse',
      message: expect.stringMatching(
        /^Training job names must be unique within an AWS account and region, and a training job with this name already exists \(arn:aws:sagemaker:us-east-1:000000000000:training-job\/twice-.*Error Code: ResourceInUse/,
      ),
    });
  });

  it('fails if two jobs of the same name start at once: exactly one runs', async () => {
    const r = quick();
    const name = jobName('race');
    const results = await Promise.allSettled([
      r.run(trainingRequest(name), { signal: never() }),
      r.run(trainingRequest(name), { signal: never() }),
    ]);
    expect(results.map((x) => x.status).sort()).toEqual(['fulfilled', 'rejected']);
  });

  it('accepts the https:// S3 URLs CDK’s S3Location renders, for channels and the output path', async () => {
    const name = jobName('https');
    const job = await createLocalTrainingRunner({
      store,
      stateDir,
      trainerCommand: nodeTrainer(
        `require('fs').writeFileSync(process.env.SM_MODEL_DIR + '/seen.txt', require('fs').readdirSync(process.env.SM_CHANNEL_TRAIN).join(','))`,
      ),
    }).run(
      trainingRequest(
        name,
        {
          OutputDataConfig: {
            S3OutputPath: `https://s3.us-east-1.amazonaws.com/${MODEL_BUCKET}/https-jobs/`,
          },
        },
        `https://s3.us-east-1.amazonaws.com/${DATA_BUCKET}/datasets/wine/`,
      ),
      { signal: never() },
    );
    expect(job.ModelArtifacts?.S3ModelArtifacts).toBe(
      `s3://${MODEL_BUCKET}/https-jobs/${name}/output/model.tar.gz`,
    );
    const archive = await store.getBytes(MODEL_BUCKET, `https-jobs/${name}/output/model.tar.gz`);
    expect(listArchive(archive)[0]!.data.toString()).toBe('winequality-red.csv');
  });

  it.each([
    [
      'an S3 URI that is no S3 address',
      trainingRequest('x', {}, 'ftp://data/wine.csv'),
      /InputDataConfig channel "train" S3Uri: S3 address must be s3:\/\/bucket\/key or an https:\/\/…amazonaws\.com S3 URL, but "ftp:\/\/data\/wine\.csv" was provided/,
    ],
    [
      'a bucket the platform does not have',
      trainingRequest('x', { OutputDataConfig: { S3OutputPath: 's3://someone-elses-bucket/out' } }),
      /OutputDataConfig\.S3OutputPath names bucket "someone-elses-bucket", which the local platform does not have \(its buckets: mlops-local-data, mlops-local-models\)/,
    ],
    [
      'no train channel for the kit’s trainer',
      trainingRequest('x', {
        InputDataConfig: [
          {
            ChannelName: 'test',
            DataSource: { S3DataSource: { S3Uri: 's3://mlops-local-data/a', S3DataType: 'S3Prefix' } },
          },
        ],
      }),
      /InputDataConfig must include a "train" channel \(the trainer reads it\), but only "test" was provided/,
    ],
    [
      'a channel without a data source',
      trainingRequest('x', { InputDataConfig: [{ ChannelName: 'train', DataSource: {} }] }),
      /InputDataConfig\[0\]\.DataSource\.S3DataSource: DataSource\.S3DataSource is required/,
    ],
    [
      'a hyperparameter that is not a string',
      trainingRequest('x', { HyperParameters: { target: 'quality', alpha: 0.5 } }),
      /HyperParameters\.alpha: HyperParameters values must be strings .* but 0\.5 was provided/,
    ],
    ['no RoleArn', { ...trainingRequest('x'), RoleArn: undefined }, /RoleArn is required/],
    ['a job name SageMaker refuses', trainingRequest('bad_name!'), /TrainingJobName must be 1-63 letters/],
    [
      'two hosts',
      trainingRequest('x', {
        ResourceConfig: { InstanceCount: 2, InstanceType: 'ml.m5.large', VolumeSizeInGB: 10 },
      }),
      /InstanceCount must be 1 locally .* but 2 was provided/,
    ],
    [
      'a network isolation flag that is not a boolean',
      trainingRequest('x', { EnableNetworkIsolation: 'yes' }),
      /EnableNetworkIsolation must be a boolean/,
    ],
    [
      'a VPC config without subnets',
      trainingRequest('x', { VpcConfig: { SecurityGroupIds: ['sg-1'], Subnets: [] } }),
      /VpcConfig\.Subnets must hold 1 to 16 ids/,
    ],
    [
      'Pipe input mode',
      trainingRequest('x', { AlgorithmSpecification: { TrainingImage: 'i', TrainingInputMode: 'Pipe' } }),
      /channel "train" uses Pipe input mode/,
    ],
    [
      'an input mode SageMaker does not have',
      trainingRequest('x', { AlgorithmSpecification: { TrainingImage: 'i', TrainingInputMode: 'Streaming' } }),
      /TrainingInputMode must be File, Pipe or FastFile/,
    ],
    [
      'a distribution type SageMaker does not have',
      trainingRequest('x', {
        InputDataConfig: [
          { ChannelName: 'train', DataSource: { S3DataSource: { S3Uri: 's3://b/p/', S3DataType: 'S3Prefix', S3DataDistributionType: 'Random' } } },
        ],
      }),
      /S3DataDistributionType/,
    ],
  ])('fails if the request has %s (ValidationException)', async (_, request, message) => {
    const r = createLocalTrainingRunner({ store, stateDir });
    const run = r.run(
      {
        ...request,
        TrainingJobName: request['TrainingJobName'] === 'x' ? jobName('invalid') : request['TrainingJobName'],
      },
      { signal: never() },
    );
    await expect(run).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringMatching(message),
    });
  });

  it('runs a FastFile job with a ShardedByS3Key channel on its one host: every object, recorded as asked', async () => {
    // Locally FastFile is File (the channel is copied before the trainer starts; the trainer sees
    // the same files) and one host's share of a sharded channel is all of it, as on SageMaker.
    const lister = createLocalTrainingRunner({
      store,
      stateDir,
      trainerCommand: nodeTrainer(`
        const fs = require('fs');
        console.log('files=' + fs.readdirSync(process.env.SM_CHANNEL_TRAIN || '/opt/ml/input/data/train').join(','));
        fs.writeFileSync(process.env.SM_MODEL_DIR + '/model.json', '{}');`),
      requiredChannels: ['train'],
    });
    const name = jobName('fastfile');
    const request = trainingRequest(name, { AlgorithmSpecification: { TrainingImage: 'i', TrainingInputMode: 'FastFile' } });
    const channels = request['InputDataConfig'] as { DataSource: { S3DataSource: Record<string, string> } }[];
    channels[0]!.DataSource.S3DataSource['S3DataDistributionType'] = 'ShardedByS3Key';
    const job = await lister.run(request, { signal: never() });
    expect(job.TrainingJobStatus).toBe('Completed');
    const config = JSON.parse(await readFile(join(lister.jobDir(name), 'input/config/inputdataconfig.json'), 'utf8'));
    expect(config.train).toMatchObject({ TrainingInputMode: 'FastFile', S3DistributionType: 'ShardedByS3Key' });
    const listed = (await lister.logs(name))!.match(/files=(.*)/)![1]!.split(',').filter(Boolean);
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.length).toBe((await keysUnder(DATA_BUCKET, 'datasets/wine/')).length);
  });

  it('creates no job directory for a refused request', async () => {
    const name = jobName('refused');
    await expect(
      runner.run(trainingRequest(name, {}, 's3://no-such-bucket/x'), { signal: never() }),
    ).rejects.toThrow(/no-such-bucket/);
    await expect(stat(runner.jobDir(name))).rejects.toThrow(/ENOENT/);
  });
});
