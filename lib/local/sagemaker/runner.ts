/**
 * The local SageMaker training-job runner: what `sagemaker:createTrainingJob.sync` runs in the
 * local environment. One job is one child process under the SageMaker training-container contract,
 * with its inputs copied out of the local S3 store and its model packed back into it.
 *
 * A job's directory mirrors `/opt/ml` inside a training container, and stays behind for inspection:
 *
 *   <stateDir>/sagemaker/<TrainingJobName>/
 *     input/config/hyperparameters.json    the HyperParameters string map, as given
 *     input/config/inputdataconfig.json    per channel: ContentType, TrainingInputMode, …
 *     input/config/resourceconfig.json     current_host, hosts, instance groups
 *     input/data/<channel>/…               the channel's objects, by key relative to its prefix
 *     model/                               what the trainer leaves → model.tar.gz
 *     output/failure                       the trainer's failure reason, if any
 *     output/data/                         extra output → output.tar.gz when not empty
 *     job.log                              the trainer's stdout and stderr as it runs; its tail once ended
 *     description.json                     the DescribeTrainingJob answer: InProgress while it runs, then final
 *
 * The directory is created with an exclusive `mkdir`, which is what makes a second job of the
 * same name fail with `ResourceInUse`, across runs, as SageMaker's account-wide names do.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { packModelDir } from '../../model/archive';
import { DEFAULT_LOCAL_ACCOUNT, DEFAULT_LOCAL_REGION } from '../assembly';
import type { S3Store } from '../s3/store';
import { parseS3Url, type S3Location } from '../s3/uri';
import type { TrainingJobRunner } from '../sfn/integrations';
import { type MetricData, MetricScraper } from './metrics';
import {
  type ChannelSpec,
  type CreateTrainingJobRequest,
  DEFAULT_MAX_RUNTIME_SECONDS,
  parseCreateTrainingJob,
  SageMakerApiError,
} from './request';
import { bundledTrainerCommand, type CommandLine, ensureTrainerBundle } from './trainer';

/** Where a job's trainer output goes as it runs. */
export type TrainingLogSink = (
  line: string,
  source: { readonly trainingJobName: string; readonly stream: 'stdout' | 'stderr' },
) => void;

export interface LocalTrainingRunnerOptions {
  /** The local S3 store channels are read from and artifacts written to. */
  readonly store: S3Store;
  /** The local state dir; jobs live under `<stateDir>/sagemaker/`. */
  readonly stateDir: string;
  /**
   * The trainer to run, as a command line; it is started in the job directory with the contract's
   * environment.
   * @default the kit's trainer (`lib/trainer/container.ts`) bundled as the image bundles it, run with node
   */
  readonly trainerCommand?: CommandLine;
  /**
   * Channels every request must have, checked before anything runs.
   * @default ['train'] for the kit's trainer; [] with a custom `trainerCommand`
   */
  readonly requiredChannels?: readonly string[];
  /** Receives every line the trainer writes. @default discards them (they still go to `job.log`) */
  readonly log?: TrainingLogSink;
  /** The account in training-job ARNs. @default '000000000000' */
  readonly account?: string;
  /** The region in training-job ARNs. @default 'us-east-1' */
  readonly region?: string;
  /**
   * Seconds between SIGTERM and SIGKILL when a job is stopped, for the trainer to save its model.
   * @default 120 (SageMaker's)
   */
  readonly stopGraceSeconds?: number;
  /** How much of the trainer's output `job.log` keeps (the end of it). @default 256 KiB */
  readonly logTailBytes?: number;
}

/** One entry of `SecondaryStatusTransitions`. */
export interface SecondaryStatusTransition {
  readonly Status: SecondaryStatus;
  readonly StartTime: Date;
  EndTime?: Date;
  readonly StatusMessage: string;
}

export type SecondaryStatus =
  | 'Starting'
  | 'Downloading'
  | 'Training'
  | 'Uploading'
  | 'Stopping'
  | 'Stopped'
  | 'MaxRuntimeExceeded'
  | 'Completed'
  | 'Failed';

/** What DescribeTrainingJob answers (dates become epoch seconds on the wire). */
export type TrainingJobDescription = {
  readonly TrainingJobName: string;
  readonly TrainingJobArn: string;
  readonly TrainingJobStatus: TrainingJobStatus;
  readonly SecondaryStatus: SecondaryStatus;
  readonly FailureReason?: string;
  readonly ModelArtifacts?: { readonly S3ModelArtifacts: string };
  readonly OutputDataArtifacts?: string;
  readonly HyperParameters: Record<string, string>;
  readonly AlgorithmSpecification: CreateTrainingJobRequest['AlgorithmSpecification'];
  readonly RoleArn: string;
  readonly InputDataConfig?: CreateTrainingJobRequest['InputDataConfig'];
  readonly OutputDataConfig: CreateTrainingJobRequest['OutputDataConfig'];
  readonly ResourceConfig: CreateTrainingJobRequest['ResourceConfig'];
  readonly StoppingCondition: CreateTrainingJobRequest['StoppingCondition'];
  readonly Environment?: Record<string, string>;
  readonly CreationTime: Date;
  readonly TrainingStartTime: Date;
  /** Absent while the job runs. */
  readonly TrainingEndTime?: Date;
  readonly LastModifiedTime: Date;
  readonly TrainingTimeInSeconds?: number;
  readonly BillableTimeInSeconds?: number;
  readonly FinalMetricDataList: MetricData[];
  readonly SecondaryStatusTransitions: SecondaryStatusTransition[];
  readonly EnableNetworkIsolation: boolean;
  /** As requested; a local job runs on this machine whatever it names. */
  readonly VpcConfig?: CreateTrainingJobRequest['VpcConfig'];
  readonly EnableInterContainerTrafficEncryption: boolean;
  readonly EnableManagedSpotTraining: boolean;
};

export interface RunOptions {
  /** Stops the job when aborted (the execution that runs it was stopped). */
  readonly signal: AbortSignal;
  /** Called once the job exists (its name taken, DescribeTrainingJob answers it), before it trains. */
  readonly onCreated?: (description: TrainingJobDescription) => void;
}

export type TrainingJobStatus = 'InProgress' | 'Completed' | 'Failed' | 'Stopping' | 'Stopped';

/** The runner `sagemakerIntegrations` takes, plus what the SageMaker API answers about its jobs. */
export interface LocalTrainingRunner extends TrainingJobRunner {
  /**
   * Runs one job to its end. Throws {@link SageMakerApiError} for a request SageMaker would refuse
   * (invalid, unknown bucket, duplicate name); every other outcome is a description whose
   * `TrainingJobStatus` is `Completed`, `Failed` or `Stopped`.
   */
  run(request: Record<string, unknown>, options: RunOptions): Promise<TrainingJobDescription>;
  /** The directory that mirrors the job's `/opt/ml`. */
  jobDir(trainingJobName: string): string;
  /**
   * A job's description: live while it runs, as saved once it ended; `undefined` if there is no
   * such job. A job left InProgress by a platform that stopped mid-run is answered Failed.
   */
  describe(trainingJobName: string): Promise<TrainingJobDescription | undefined>;
  /** Every job of the state dir, in no particular order. */
  list(): Promise<TrainingJobDescription[]>;
  /**
   * Asks a running job to stop (SIGTERM, then SIGKILL after the grace period), as StopTrainingJob.
   * Throws {@link SageMakerApiError} ResourceNotFound for no such job, ValidationException for a
   * job that has already ended.
   */
  stop(trainingJobName: string): Promise<void>;
  /** The trainer output the runner kept for the job (`job.log`); `undefined` if there is no such job. */
  logs(trainingJobName: string): Promise<string | undefined>;
}

/** SageMaker truncates FailureReason to this many characters. */
const MAX_FAILURE_REASON = 1024;
const HOST = 'algo-1';

/**
 * Creates the runner the local Step Functions service calls for `createTrainingJob(.sync)`.
 *
 * @example
 * const store = await S3Store.open(stateDir, stage.bucketNames);
 * const trainer = createLocalTrainingRunner({ store, stateDir, log: (line) => console.log(`[train] ${line}`) });
 * const registry = new IntegrationRegistry().use(sagemakerIntegrations(trainer));
 */
export function createLocalTrainingRunner(options: LocalTrainingRunnerOptions): LocalTrainingRunner {
  const root = resolve(options.stateDir, 'sagemaker');
  const account = options.account ?? DEFAULT_LOCAL_ACCOUNT;
  const region = options.region ?? DEFAULT_LOCAL_REGION;
  const graceMs = (options.stopGraceSeconds ?? 120) * 1000;
  const tailBytes = options.logTailBytes ?? 256 * 1024;
  const requiredChannels = options.requiredChannels ?? (options.trainerCommand ? [] : ['train']);
  const trainerCommand = async (): Promise<CommandLine> =>
    options.trainerCommand ?? bundledTrainerCommand(await ensureTrainerBundle(options.stateDir));

  const jobDir = (name: string) => join(root, name);
  /** Jobs running in this process: their live description and how to stop them. */
  const active = new Map<string, { snapshot(): TrainingJobDescription; stop(): void }>();

  /** `{bucket, key}` of an S3 address or prefix in the request, or a ValidationException that names it. */
  const locate = (uri: string, what: string): S3Location => {
    let location: S3Location;
    try {
      // parseS3Url validates the key as an object key, and a prefix may end in `/`: parse without it.
      const trailing = /\/+$/.exec(uri)?.[0] ?? '';
      const parsed = parseS3Url(uri.slice(0, uri.length - trailing.length));
      location = { bucket: parsed.bucket, key: parsed.key === '' ? '' : parsed.key + (trailing ? '/' : '') };
    } catch (err) {
      throw new SageMakerApiError('ValidationException', `${what}: ${(err as Error).message}`);
    }
    if (!options.store.buckets.includes(location.bucket)) {
      throw new SageMakerApiError(
        'ValidationException',
        `${what} names bucket "${location.bucket}", which the local platform does not have ` +
          `(its buckets: ${options.store.buckets.join(', ') || 'none'})`,
      );
    }
    return location;
  };

  async function run(
    request: Record<string, unknown>,
    { signal, onCreated }: RunOptions,
  ): Promise<TrainingJobDescription> {
    const job = parseCreateTrainingJob(request, { requiredChannels });
    const name = job.TrainingJobName;
    const arn = `arn:aws:sagemaker:${region}:${account}:training-job/${name.toLowerCase()}`;
    const channels = (job.InputDataConfig ?? []).map((spec) => ({
      spec,
      source: locate(
        spec.DataSource.S3DataSource.S3Uri,
        `InputDataConfig channel "${spec.ChannelName}" S3Uri`,
      ),
    }));
    const output = locate(job.OutputDataConfig.S3OutputPath, 'OutputDataConfig.S3OutputPath');
    const dir = jobDir(name);
    await mkdir(root, { recursive: true });
    try {
      await mkdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      throw new SageMakerApiError(
        'ResourceInUse',
        `Training job names must be unique within an AWS account and region, and a training job with this name already exists (${arn})`,
      );
    }

    const creationTime = new Date();
    const transitions = new Transitions();
    transitions.enter('Starting', 'Preparing the instances for training');
    const log = new LogTail(tailBytes);
    const metrics = new MetricScraper(job.AlgorithmSpecification.MetricDefinitions ?? []);
    const paths = contractPaths(dir);

    // Stop requests (the execution aborted, StopTrainingJob, or MaxRuntimeInSeconds passed) end
    // whatever phase runs.
    const stop = new StopSwitch(signal);
    transitions.enter('Downloading', 'Downloading input data');
    const trainingStart = new Date();
    stop.startClock((job.StoppingCondition.MaxRuntimeInSeconds ?? DEFAULT_MAX_RUNTIME_SECONDS) * 1000);
    const describeAs = (
      status: TrainingJobStatus,
      end: Date | undefined,
      extra: Partial<TrainingJobDescription> = {},
    ): TrainingJobDescription => {
      const seconds =
        end && Math.max(1, Math.ceil((end.getTime() - trainingStart.getTime()) / 1000));
      return {
        TrainingJobName: name,
        TrainingJobArn: arn,
        TrainingJobStatus: status,
        SecondaryStatus: transitions.list.at(-1)!.Status,
        ...extra,
        HyperParameters: job.HyperParameters ?? {},
        AlgorithmSpecification: job.AlgorithmSpecification,
        RoleArn: job.RoleArn,
        ...(job.InputDataConfig ? { InputDataConfig: job.InputDataConfig } : {}),
        OutputDataConfig: job.OutputDataConfig,
        ResourceConfig: job.ResourceConfig,
        StoppingCondition: {
          ...job.StoppingCondition,
          MaxRuntimeInSeconds: job.StoppingCondition.MaxRuntimeInSeconds ?? DEFAULT_MAX_RUNTIME_SECONDS,
        },
        ...(job.Environment ? { Environment: job.Environment } : {}),
        CreationTime: creationTime,
        TrainingStartTime: trainingStart,
        ...(end ? { TrainingEndTime: end, TrainingTimeInSeconds: seconds, BillableTimeInSeconds: seconds } : {}),
        LastModifiedTime: end ?? transitions.list.at(-1)!.StartTime,
        FinalMetricDataList: metrics.final(),
        SecondaryStatusTransitions: structuredClone(transitions.list),
        // Echoed as asked: the local trainer is a child process, not a container without a network.
        EnableNetworkIsolation: job.EnableNetworkIsolation ?? false,
        ...(job.VpcConfig ? { VpcConfig: job.VpcConfig } : {}),
        EnableInterContainerTrafficEncryption: false,
        EnableManagedSpotTraining: false,
      };
    };
    active.set(name, {
      snapshot: () => describeAs(stop.reason ? 'Stopping' : 'InProgress', undefined),
      stop: () => stop.trip('Stopped'),
    });
    // The live log, so `mlops logs` can follow a running job; replaced by its tail at the end.
    const liveLog: WriteStream = createWriteStream(join(dir, 'job.log'));
    liveLog.on('error', () => undefined); // a log that cannot be written must not fail the job
    try {
      await saveDescription(dir, describeAs('InProgress', undefined));
    } catch (err) {
      active.delete(name);
      liveLog.destroy();
      throw err;
    }
    onCreated?.(describeAs('InProgress', undefined));

    let failure: string | undefined;
    let command: CommandLine | undefined;
    try {
      await writeContractConfig(paths, job);
      for (const { spec, source } of channels) {
        if (stop.reason) break;
        const copied = await copyChannel(
          options.store,
          source,
          join(paths.data, spec.ChannelName),
          () => stop.reason,
        );
        if (copied === 0 && !stop.reason) {
          failure =
            `ClientError: No S3 objects found under S3 URL "${spec.DataSource.S3DataSource.S3Uri}" given in input data source. ` +
            'Please ensure that the bucket exists in the selected region, and that objects exist under that S3 prefix.';
          break;
        }
      }
      if (!failure && !stop.reason) command = await trainerCommand();
    } catch (err) {
      failure = `ClientError: cannot prepare the job: ${(err as Error).message}`;
    }

    let exit: ProcessExit | undefined;
    if (command && !failure && !stop.reason) {
      transitions.enter('Training', 'Training image download completed. Training in progress.');
      exit = await runTrainer(command, {
        cwd: dir,
        env: trainerEnv(paths, job, arn),
        stop,
        graceMs,
        onLine: (line, stream) => {
          log.push(line);
          liveLog.write(`${line}\n`);
          metrics.line(line);
          options.log?.(line, { trainingJobName: name, stream });
        },
      });
      if (!stop.reason && !exit.ok) failure = await algorithmError(paths.failureFile, exit);
    }
    const stoppedBy = stop.reason;
    stop.dispose();
    if (stoppedBy) transitions.enter('Stopping', 'Stopping the training job');

    // SageMaker uploads the model of a completed job, and of a stopped one whatever the trainer saved.
    let modelArtifacts: string | undefined;
    let outputArtifacts: string | undefined;
    const prefix = [output.key.replace(/\/+$/, ''), name, 'output'].filter((p) => p !== '').join('/');
    if (!failure && (stoppedBy === undefined ? exit?.ok : await hasEntries(paths.model))) {
      if (!stoppedBy) transitions.enter('Uploading', 'Uploading generated training model');
      try {
        await options.store.put(output.bucket, `${prefix}/model.tar.gz`, await packModelDir(paths.model), {
          contentType: 'application/x-tar',
        });
        modelArtifacts = `s3://${output.bucket}/${prefix}/model.tar.gz`;
        if (await hasEntries(paths.outputData)) {
          await options.store.put(
            output.bucket,
            `${prefix}/output.tar.gz`,
            await packModelDir(paths.outputData),
            {
              contentType: 'application/x-tar',
            },
          );
          outputArtifacts = `s3://${output.bucket}/${prefix}/output.tar.gz`;
        }
      } catch (err) {
        failure = `ClientError: cannot upload the model to s3://${output.bucket}/${prefix}/: ${(err as Error).message}`;
        modelArtifacts = undefined;
      }
    }

    const status: TrainingJobDescription['TrainingJobStatus'] = failure
      ? 'Failed'
      : stoppedBy
        ? 'Stopped'
        : 'Completed';
    const secondary: SecondaryStatus = status === 'Stopped' ? stoppedBy! : status;
    transitions.enter(
      secondary,
      {
        Completed: 'Training job completed',
        Failed: 'Training job failed',
        Stopped: 'Training job stopped',
        MaxRuntimeExceeded: 'Training job stopped because it exceeded MaxRuntimeInSeconds',
      }[secondary as 'Completed' | 'Failed' | 'Stopped' | 'MaxRuntimeExceeded'],
    );
    const end = transitions.finish();
    const description = describeAs(status, end, {
      ...(failure ? { FailureReason: failure.slice(0, MAX_FAILURE_REASON) } : {}),
      ...(modelArtifacts ? { ModelArtifacts: { S3ModelArtifacts: modelArtifacts } } : {}),
      ...(outputArtifacts ? { OutputDataArtifacts: outputArtifacts } : {}),
    });
    await new Promise<void>((done) => liveLog.end(done));
    try {
      await writeFile(join(dir, 'job.log'), log.text());
      await saveDescription(dir, description);
    } finally {
      active.delete(name);
    }
    return description;
  }

  async function describe(name: string): Promise<TrainingJobDescription | undefined> {
    const live = active.get(name);
    if (live) return live.snapshot();
    // Names are SageMaker's ([a-zA-Z0-9-]), so nothing else can be a job directory.
    if (!/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/.test(name)) return undefined;
    const text = await readFile(join(jobDir(name), 'description.json'), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const dates = new Set([
      'CreationTime',
      'TrainingStartTime',
      'TrainingEndTime',
      'LastModifiedTime',
      'Timestamp',
      'StartTime',
      'EndTime',
    ]);
    let saved: TrainingJobDescription;
    try {
      saved = JSON.parse(text, (key, value) => (dates.has(key) ? new Date(value) : value));
    } catch {
      return undefined; // a torn write of a job that never got further: nothing to describe
    }
    if (saved.TrainingJobStatus !== 'InProgress' && saved.TrainingJobStatus !== 'Stopping') return saved;
    // Saved as running, but no runner here runs it: the platform stopped during the job.
    return {
      ...saved,
      TrainingJobStatus: 'Failed',
      SecondaryStatus: 'Failed',
      FailureReason: 'InternalServerError: the local platform stopped while the job was running',
    };
  }

  async function list(): Promise<TrainingJobDescription[]> {
    const names = await readdir(root).catch(() => [] as string[]);
    const all = await Promise.all(names.map((n) => describe(n)));
    return all.filter((d): d is TrainingJobDescription => d !== undefined);
  }

  async function stopJob(name: string): Promise<void> {
    const live = active.get(name);
    if (live) return live.stop();
    const d = await describe(name);
    if (!d) throw new SageMakerApiError('ResourceNotFound', 'Requested resource not found.');
    throw new SageMakerApiError(
      'ValidationException',
      `The request was rejected because the training job is in status ${d.TrainingJobStatus}.`,
    );
  }

  async function logs(name: string): Promise<string | undefined> {
    if (!(await describe(name))) return undefined;
    return readFile(join(jobDir(name), 'job.log'), 'utf8').catch(() => '');
  }

  return { run, jobDir, describe, list, stop: stopJob, logs };
}

// ---------------------------------------------------------------------------------------------
// The contract: directories, config files, environment

interface ContractPaths {
  readonly input: string;
  readonly config: string;
  readonly data: string;
  readonly model: string;
  readonly output: string;
  readonly outputData: string;
  readonly failureFile: string;
}

function contractPaths(dir: string): ContractPaths {
  return {
    input: join(dir, 'input'),
    config: join(dir, 'input', 'config'),
    data: join(dir, 'input', 'data'),
    model: join(dir, 'model'),
    output: join(dir, 'output'),
    outputData: join(dir, 'output', 'data'),
    failureFile: join(dir, 'output', 'failure'),
  };
}

/** The three files SageMaker writes to `/opt/ml/input/config`, in its shapes. */
async function writeContractConfig(paths: ContractPaths, job: CreateTrainingJobRequest): Promise<void> {
  for (const d of [paths.config, paths.data, paths.model, paths.outputData])
    await mkdir(d, { recursive: true });
  const instanceType = job.ResourceConfig.InstanceType ?? 'local';
  await writeFile(join(paths.config, 'hyperparameters.json'), JSON.stringify(job.HyperParameters ?? {}));
  await writeFile(join(paths.config, 'inputdataconfig.json'), JSON.stringify(inputDataConfig(job)));
  await writeFile(
    join(paths.config, 'resourceconfig.json'),
    JSON.stringify({
      current_host: HOST,
      current_instance_type: instanceType,
      current_group_name: 'homogeneousCluster',
      hosts: [HOST],
      instance_groups: [
        { instance_group_name: 'homogeneousCluster', instance_type: instanceType, hosts: [HOST] },
      ],
      network_interface_name: 'eth0',
    }),
  );
}

function inputDataConfig(job: CreateTrainingJobRequest): Record<string, Record<string, string>> {
  return Object.fromEntries(
    (job.InputDataConfig ?? []).map((c: ChannelSpec) => [
      c.ChannelName,
      {
        ...(c.ContentType ? { ContentType: c.ContentType } : {}),
        TrainingInputMode: c.InputMode ?? job.AlgorithmSpecification.TrainingInputMode,
        S3DistributionType: c.DataSource.S3DataSource.S3DataDistributionType ?? 'FullyReplicated',
        RecordWrapperType: c.RecordWrapperType ?? 'None',
      },
    ]),
  );
}

/**
 * The environment a training container sees: a minimal base (no host secrets leak in), the
 * request's `Environment`, then the contract's `SM_*` variables, which the request cannot redirect.
 */
function trainerEnv(paths: ContractPaths, job: CreateTrainingJobRequest, arn: string): NodeJS.ProcessEnv {
  const base = Object.fromEntries(
    ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'SYSTEMROOT']
      .filter((k) => process.env[k] !== undefined)
      .map((k) => [k, process.env[k]]),
  );
  const channels = (job.InputDataConfig ?? []).map((c) => c.ChannelName);
  const hps = job.HyperParameters ?? {};
  return {
    ...base,
    ...(job.Environment ?? {}),
    TRAINING_JOB_NAME: job.TrainingJobName,
    TRAINING_JOB_ARN: arn,
    SM_INPUT_DIR: paths.input,
    SM_INPUT_CONFIG_DIR: paths.config,
    SM_INPUT_DATA_CONFIG: JSON.stringify(inputDataConfig(job)),
    SM_CHANNELS: JSON.stringify(channels),
    ...Object.fromEntries(channels.map((c) => [`SM_CHANNEL_${c.toUpperCase()}`, join(paths.data, c)])),
    SM_MODEL_DIR: paths.model,
    SM_OUTPUT_DIR: paths.output,
    SM_OUTPUT_DATA_DIR: paths.outputData,
    SM_HPS: JSON.stringify(hps),
    ...Object.fromEntries(Object.entries(hps).map(([k, v]) => [`SM_HP_${k.toUpperCase()}`, v])),
    SM_CURRENT_HOST: HOST,
    SM_HOSTS: JSON.stringify([HOST]),
  };
}

/**
 * Copies every object under the channel's prefix to `dest`, keeping each key's path relative to the
 * prefix's last `/` (so `s3://b/raw/wine/` and `s3://b/raw/wine` both give `wine.csv`-relative
 * paths as SageMaker lays them out). Returns how many objects were copied.
 */
async function copyChannel(
  store: S3Store,
  source: S3Location,
  dest: string,
  stopped: () => unknown,
): Promise<number> {
  await mkdir(dest, { recursive: true });
  const base = source.key.slice(0, source.key.lastIndexOf('/') + 1);
  let copied = 0;
  let token: string | undefined;
  do {
    const page = await store.list(source.bucket, {
      prefix: source.key,
      ...(token ? { continuationToken: token } : {}),
    });
    for (const object of page.contents) {
      if (stopped()) return copied;
      const target = join(dest, ...object.key.slice(base.length).split('/'));
      await mkdir(dirname(target), { recursive: true });
      const { stream } = await store.get(source.bucket, object.key, { versionId: object.versionId });
      await pipeline(stream, createWriteStream(target));
      copied++;
    }
    token = page.nextContinuationToken;
  } while (token);
  return copied;
}

/** Written whole or not at all: a reader never sees half a description. */
async function saveDescription(dir: string, description: TrainingJobDescription): Promise<void> {
  const tmp = join(dir, 'description.json.tmp');
  await writeFile(tmp, `${JSON.stringify(description, null, 2)}\n`);
  await rename(tmp, join(dir, 'description.json'));
}

async function hasEntries(dir: string): Promise<boolean> {
  return ((await readdir(dir).catch(() => [])) as string[]).length > 0;
}

/** `AlgorithmError: <the trainer's failure file>, exit code: N`, as SageMaker words it. */
async function algorithmError(failureFile: string, exit: ProcessExit): Promise<string> {
  const reason = (await readFile(failureFile, 'utf8').catch(() => '')).trim();
  const how = exit.spawnError
    ? `the trainer could not be started: ${exit.spawnError}`
    : exit.code !== null
      ? `exit code: ${exit.code}`
      : `killed by ${exit.signal}`;
  return `AlgorithmError: ${reason}, ${how}`;
}

// ---------------------------------------------------------------------------------------------
// The process

interface ProcessExit {
  readonly ok: boolean;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly spawnError?: string;
}

type StopReason = 'Stopped' | 'MaxRuntimeExceeded';

/** One place that knows why a job is being stopped: the caller's abort or the runtime limit. */
class StopSwitch {
  reason: StopReason | undefined;
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private readonly onAbort = () => this.trip('Stopped');

  constructor(private readonly signal: AbortSignal) {
    if (signal.aborted) this.reason = 'Stopped';
    else signal.addEventListener('abort', this.onAbort, { once: true });
  }

  startClock(ms: number): void {
    this.timer = setTimeout(() => this.trip('MaxRuntimeExceeded'), ms);
  }

  onStop(listener: () => void): () => void {
    if (this.reason) listener();
    else this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.signal.removeEventListener('abort', this.onAbort);
    this.listeners.clear();
  }

  trip(reason: StopReason): void {
    if (this.reason) return;
    this.reason = reason;
    for (const l of this.listeners) l();
  }
}

/** Process groups still running, killed if this process exits first so no trainer is orphaned. */
const live = new Set<number>();
let exitHookInstalled = false;

function runTrainer(
  command: CommandLine,
  options: {
    cwd: string;
    env: NodeJS.ProcessEnv;
    stop: StopSwitch;
    graceMs: number;
    onLine: (line: string, stream: 'stdout' | 'stderr') => void;
  },
): Promise<ProcessExit> {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const pid of live) killGroup(pid, 'SIGKILL');
    });
  }
  return new Promise((done) => {
    // Its own process group, so stopping the job also stops anything the trainer started.
    const child = spawn(command[0], command.slice(1), {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const pid = child.pid;
    if (pid !== undefined) live.add(pid);
    let killTimer: NodeJS.Timeout | undefined;
    const unsubscribe = options.stop.onStop(() => {
      if (pid === undefined) return;
      killGroup(pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), options.graceMs);
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: child[stream]!, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
        options.onLine(line, stream),
      );
    }
    let spawnError: string | undefined;
    child.once('error', (err) => {
      spawnError = err.message;
    });
    child.once('close', (code, signal) => {
      if (pid !== undefined) live.delete(pid);
      clearTimeout(killTimer);
      unsubscribe();
      done({
        ok: code === 0 && spawnError === undefined,
        code,
        signal,
        ...(spawnError ? { spawnError } : {}),
      });
    });
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping

class Transitions {
  readonly list: SecondaryStatusTransition[] = [];

  enter(status: SecondaryStatus, message: string): void {
    const now = new Date();
    const last = this.list.at(-1);
    if (last) last.EndTime = now;
    this.list.push({ Status: status, StartTime: now, StatusMessage: message });
  }

  /** Closes the terminal transition and returns the end time. */
  finish(): Date {
    const last = this.list.at(-1)!;
    last.EndTime = last.StartTime;
    return last.StartTime;
  }
}

/** The last `limit` bytes of the trainer's output, whole lines only. */
class LogTail {
  private readonly lines: string[] = [];
  private bytes = 0;

  constructor(private readonly limit: number) {}

  push(line: string): void {
    this.lines.push(line);
    this.bytes += Buffer.byteLength(line) + 1;
    while (this.bytes > this.limit && this.lines.length > 0) {
      this.bytes -= Buffer.byteLength(this.lines.shift()!) + 1;
    }
  }

  text(): string {
    return this.lines.length ? `${this.lines.join('\n')}\n` : '';
  }
}
