/**
 * The SageMaker training-job commands: `jobs` lists training jobs, `logs <job>` prints a job's
 * output. Both are plain `@aws-sdk/client-sagemaker` and `@aws-sdk/client-cloudwatch-logs` calls:
 * against the local platform (its AWS endpoint answers SageMaker and the jobs' CloudWatch Logs from
 * the local runner) or, with `--aws`, against the account of the default credential chain, where
 * SageMaker writes a job's output to the log group `/aws/sagemaker/TrainingJobs`.
 *
 * @example
 *   npx mlops jobs
 *   npx mlops jobs --status Failed --json
 *   npx mlops logs --latest
 */
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type {
  ListTrainingJobsCommandInput,
  SageMakerClient,
  SageMakerClientConfig,
  TrainingJobStatus,
  TrainingJobSummary,
} from '@aws-sdk/client-sagemaker';
import { InvalidArgumentError, Option } from 'commander';
import { stateDirFrom } from '../local/layout';
import { formatTable, jsonOption, print, stateDirOption } from './local';
import { CliError, type CommandModule, EXIT } from './program';

/** The clients a command talks through, and how to release them, with their SDK modules (loaded when a command runs). */
interface JobClients {
  readonly sagemaker: SageMakerClient;
  readonly logs: CloudWatchLogsClient;
  readonly sm: typeof import('@aws-sdk/client-sagemaker');
  readonly cwl: typeof import('@aws-sdk/client-cloudwatch-logs');
}

const STATUSES: readonly TrainingJobStatus[] = ['InProgress', 'Completed', 'Failed', 'Stopping', 'Stopped'];

const commonOptions = () => [
  stateDirOption(),
  new Option(
    '--aws',
    'ask the AWS account of the default credential chain (AWS_PROFILE, AWS_REGION) instead of the local platform',
  ),
  jsonOption(),
];

export const jobsCommands: CommandModule = (program) => {
  const jobs = program
    .command('jobs')
    .description('list SageMaker training jobs, newest first')
    .addOption(new Option('--status <status>', 'only jobs in this status').choices(STATUSES as string[]))
    .option('--name-contains <text>', 'only jobs whose name contains this text')
    .addOption(new Option('--max <n>', 'list at most this many').default(50).argParser(positiveInt));
  for (const o of commonOptions()) jobs.addOption(o);
  jobs
    .addHelpText(
      'after',
      '\nExamples:\n  npx mlops jobs\n  npx mlops jobs --status Completed --json\n  npx mlops jobs --aws --name-contains wine\n',
    )
    .action(async (opts) => {
      const summaries = await withClients(opts, (c) =>
        listJobs(c, {
          ...(opts.status ? { StatusEquals: opts.status as TrainingJobStatus } : {}),
          ...(opts.nameContains ? { NameContains: String(opts.nameContains) } : {}),
        }, opts.max),
      );
      const rows = summaries.map((j) => ({
        name: j.TrainingJobName,
        status: j.TrainingJobStatus,
        secondaryStatus: j.SecondaryStatus,
        creationTime: j.CreationTime?.toISOString(),
        trainingEndTime: j.TrainingEndTime?.toISOString(),
        arn: j.TrainingJobArn,
      }));
      const text =
        rows.length === 0
          ? 'no training jobs yet'
          : formatTable(
              ['STATUS', 'CREATED', 'ENDED', 'NAME'],
              rows.map((r) => [r.status ?? '', r.creationTime ?? '', r.trainingEndTime ?? '-', r.name ?? '']),
            );
      print(opts.json, rows, text);
    });

  const logs = program
    .command('logs')
    .description("print a training job's log (its trainer's output)")
    .argument('[job]', 'the training job name (see `mlops jobs`)')
    .option('--latest', 'the most recently created training job');
  for (const o of commonOptions()) logs.addOption(o);
  logs
    .addHelpText(
      'after',
      '\nExamples:\n  npx mlops logs --latest\n  npx mlops logs train-startup-1733312345678 --aws\n',
    )
    .action(async (job: string | undefined, opts) => {
      if ((job === undefined) === !opts.latest) {
        throw new CliError('give either a training job name or --latest (see `mlops jobs`)');
      }
      const events = await withClients(opts, async (c) => {
        const name = job ?? (await listJobs(c, {}, 1))[0]?.TrainingJobName;
        if (name === undefined) throw new CliError('there are no training jobs yet', EXIT.failed);
        return jobLog(c, name);
      });
      if (opts.json) process.stdout.write(`${JSON.stringify(events, null, 2)}\n`);
      else for (const e of events) process.stdout.write(`${e.message}\n`);
    });
};

/** Every summary up to `max`, following NextToken. */
async function listJobs(
  { sagemaker: client, sm }: JobClients,
  filter: ListTrainingJobsCommandInput,
  max: number,
): Promise<TrainingJobSummary[]> {
  const out: TrainingJobSummary[] = [];
  let NextToken: string | undefined;
  do {
    const page = await client.send(
      new sm.ListTrainingJobsCommand({
        ...filter,
        SortBy: 'CreationTime',
        SortOrder: 'Descending',
        MaxResults: Math.min(100, max - out.length),
        NextToken,
      }),
    );
    out.push(...(page.TrainingJobSummaries ?? []));
    NextToken = page.NextToken;
  } while (NextToken && out.length < max);
  return out;
}

/** The job's log events across its streams (`<job>/algo-1-…`), oldest first. */
async function jobLog(c: JobClients, job: string): Promise<{ timestamp?: number; message: string }[]> {
  const { TRAINING_LOG_GROUP } = await import('../local/sagemaker/api');
  try {
    await c.sagemaker.send(new c.sm.DescribeTrainingJobCommand({ TrainingJobName: job }));
  } catch (err) {
    const e = err as Error;
    if (e.name === 'ValidationException' || e.name === 'ResourceNotFound') {
      throw new CliError(`no training job named "${job}" (${e.message})`, EXIT.failed);
    }
    throw err;
  }
  const streams: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await c.logs.send(
      new c.cwl.DescribeLogStreamsCommand({ logGroupName: TRAINING_LOG_GROUP, logStreamNamePrefix: `${job}/`, nextToken }),
    );
    streams.push(...(page.logStreams ?? []).map((s) => s.logStreamName!));
    nextToken = page.nextToken;
  } while (nextToken);
  const events: { timestamp?: number; message: string }[] = [];
  for (const logStreamName of streams) {
    let token: string | undefined;
    // CloudWatch signals the end by answering the token it was given.
    for (;;) {
      const page = await c.logs.send(
        new c.cwl.GetLogEventsCommand({
          logGroupName: TRAINING_LOG_GROUP,
          logStreamName,
          startFromHead: true,
          ...(token ? { nextToken: token } : {}),
        }),
      );
      events.push(...(page.events ?? []).map((e) => ({ timestamp: e.timestamp, message: e.message ?? '' })));
      if (!page.nextForwardToken || page.nextForwardToken === token || (page.events ?? []).length === 0) break;
      token = page.nextForwardToken;
    }
  }
  return events;
}

async function withClients<T>(
  opts: { aws?: boolean; stateDir?: string },
  fn: (clients: JobClients) => Promise<T>,
): Promise<T> {
  const [sm, cwl] = await Promise.all([import('@aws-sdk/client-sagemaker'), import('@aws-sdk/client-cloudwatch-logs')]);
  const run = async (config: SageMakerClientConfig) => {
    const clients = { sagemaker: new sm.SageMakerClient(config), logs: new cwl.CloudWatchLogsClient(config), sm, cwl };
    try {
      return await fn(clients);
    } finally {
      clients.sagemaker.destroy();
      clients.logs.destroy();
    }
  };
  if (opts.aws) {
    // No credentials, no region, no access: say so in one line rather than with the SDK's stack.
    return run({}).catch((err: Error) => {
      if (err instanceof CliError) throw err;
      throw new CliError(`AWS: ${err.name}: ${err.message}`, EXIT.failed);
    });
  }
  const { withSession } = await import('../local/session');
  return withSession(stateDirFrom(opts.stateDir), (s) =>
    run({
      endpoint: s.info.awsEndpoint,
      region: s.info.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    }),
  );
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`--max must be a positive integer, but ${value} was provided`);
  return n;
}
