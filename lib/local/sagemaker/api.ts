/**
 * SageMaker's training-job API and the CloudWatch Logs view of the jobs' output, served from the
 * local training runner in the JSON protocol (`X-Amz-Target: SageMaker.<Op>` and
 * `Logs_20140328.<Op>`), so `aws sagemaker list-training-jobs`, `aws logs get-log-events` and the
 * SDK v3 clients read local jobs as they read an account's.
 *
 * Where SageMaker's answers differ from its model, the service's behaviour wins: DescribeTrainingJob
 * of an unknown name answers `ValidationException: Requested resource not found.` (what the service
 * sends), StopTrainingJob answers the modelled `ResourceNotFound`.
 *
 * @example
 * const endpoint = await startAwsEndpoint({ services: { SageMaker: sagemakerApi(runner), Logs_20140328: trainingLogsApi(runner) } });
 */
import { AwsError, type Operation, paginate } from '../aws-endpoint';
import type { LocalTrainingRunner, TrainingJobDescription } from './runner';
import { SageMakerApiError } from './request';

/** The log group SageMaker writes training jobs' output to. */
export const TRAINING_LOG_GROUP = '/aws/sagemaker/TrainingJobs';

const STATUSES = ['InProgress', 'Completed', 'Failed', 'Stopping', 'Stopped'] as const;
const SORT_BY = ['Name', 'CreationTime', 'Status'] as const;
const SORT_ORDER = ['Ascending', 'Descending'] as const;

/**
 * CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs and StopTrainingJob over `runner`.
 * Jobs created through the API are stopped when `signal` aborts (the platform closing).
 */
export function sagemakerApi(
  runner: LocalTrainingRunner,
  options: { readonly signal?: AbortSignal } = {},
): Record<string, Operation> {
  const signal = options.signal ?? new AbortController().signal;
  return {
    CreateTrainingJob: (input) => createTrainingJob(runner, input, signal),
    DescribeTrainingJob: async (input) => {
      const name = requiredName(input);
      const d = await runner.describe(name);
      if (!d) throw new AwsError('ValidationException', 'Requested resource not found.');
      return d;
    },
    ListTrainingJobs: async (input) => listTrainingJobs(await runner.list(), input),
    StopTrainingJob: async (input) => {
      try {
        await runner.stop(requiredName(input));
      } catch (err) {
        throw asAwsError(err);
      }
      return {};
    },
  };
}

/**
 * Starts the job and answers once it exists, as the API does; the job then runs on and its end is
 * read with DescribeTrainingJob.
 */
function createTrainingJob(
  runner: LocalTrainingRunner,
  input: Record<string, unknown>,
  signal: AbortSignal,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    runner
      .run(input, {
        signal,
        onCreated: (d) => resolve({ TrainingJobArn: d.TrainingJobArn }),
      })
      .catch((err: unknown) => reject(asAwsError(err)));
  });
}

function listTrainingJobs(all: readonly TrainingJobDescription[], input: Record<string, unknown>): unknown {
  const nameContains = optionalString(input, 'NameContains');
  const status = oneOf(input, 'StatusEquals', STATUSES);
  const sortBy = oneOf(input, 'SortBy', SORT_BY) ?? 'CreationTime';
  const sortOrder = oneOf(input, 'SortOrder', SORT_ORDER) ?? 'Descending';
  const bounds = (['CreationTimeAfter', 'CreationTimeBefore', 'LastModifiedTimeAfter', 'LastModifiedTimeBefore'] as const).map(
    (k) => [k, epochMillis(input, k)] as const,
  );
  const within = (d: TrainingJobDescription) =>
    bounds.every(([k, ms]) => {
      if (ms === undefined) return true;
      const t = (k.startsWith('Creation') ? d.CreationTime : d.LastModifiedTime).getTime();
      return k.endsWith('After') ? t > ms : t < ms;
    });
  const key = (d: TrainingJobDescription): string | number =>
    sortBy === 'Name' ? d.TrainingJobName : sortBy === 'Status' ? d.TrainingJobStatus : d.CreationTime.getTime();
  const matching = all
    .filter(
      (d) =>
        (nameContains === undefined || d.TrainingJobName.toLowerCase().includes(nameContains.toLowerCase())) &&
        (status === undefined || d.TrainingJobStatus === status) &&
        within(d),
    )
    .sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      const c = x < y ? -1 : x > y ? 1 : a.TrainingJobName < b.TrainingJobName ? -1 : 1;
      return sortOrder === 'Ascending' ? c : -c;
    });
  const { page, nextToken } = paginate(matching, input, {
    maxField: 'MaxResults',
    tokenField: 'NextToken',
    defaultMax: 10,
    maxLimit: 100,
    errorCode: 'ValidationException',
    scope: `ListTrainingJobs:${JSON.stringify([nameContains, status, sortBy, sortOrder, bounds])}`,
  });
  return {
    TrainingJobSummaries: page.map((d) => ({
      TrainingJobName: d.TrainingJobName,
      TrainingJobArn: d.TrainingJobArn,
      CreationTime: d.CreationTime,
      ...(d.TrainingEndTime ? { TrainingEndTime: d.TrainingEndTime } : {}),
      LastModifiedTime: d.LastModifiedTime,
      TrainingJobStatus: d.TrainingJobStatus,
      SecondaryStatus: d.SecondaryStatus,
    })),
    ...(nextToken ? { NextToken: nextToken } : {}),
  };
}

/**
 * DescribeLogStreams and GetLogEvents for the log group `/aws/sagemaker/TrainingJobs`: one stream
 * per job, `<job>/algo-1-<start epoch seconds>` as SageMaker names it, holding the output the
 * runner kept. The local runner does not time-stamp lines, so every event carries the job's last
 * modification time.
 */
export function trainingLogsApi(runner: LocalTrainingRunner): Record<string, Operation> {
  const streamName = (d: TrainingJobDescription) =>
    `${d.TrainingJobName}/algo-1-${Math.floor(d.TrainingStartTime.getTime() / 1000)}`;
  const group = (input: Record<string, unknown>) => {
    const name = input['logGroupName'];
    if (name !== TRAINING_LOG_GROUP) {
      throw new AwsError(
        'ResourceNotFoundException',
        `The specified log group does not exist. (Locally only ${TRAINING_LOG_GROUP} is served, but ${JSON.stringify(name)} was provided.)`,
      );
    }
  };
  const jobOf = async (stream: unknown): Promise<TrainingJobDescription> => {
    const name = typeof stream === 'string' ? stream.split('/')[0]! : '';
    const d = name ? await runner.describe(name) : undefined;
    if (!d || streamName(d) !== stream)
      throw new AwsError('ResourceNotFoundException', 'The specified log stream does not exist.');
    return d;
  };
  return {
    DescribeLogStreams: async (input) => {
      group(input);
      const prefix = optionalString(input, 'logStreamNamePrefix') ?? '';
      const descending = input['descending'] === true;
      const streams = (await runner.list())
        .map((d) => ({ d, name: streamName(d) }))
        .filter((s) => s.name.startsWith(prefix))
        .sort((a, b) => (a.name < b.name ? -1 : 1) * (descending ? -1 : 1));
      const { page, nextToken } = paginate(streams, input, {
        maxField: 'limit',
        tokenField: 'nextToken',
        defaultMax: 50,
        maxLimit: 50,
        errorCode: 'InvalidParameterException',
        scope: `DescribeLogStreams:${prefix}:${descending}`,
      });
      return {
        logStreams: page.map(({ d, name }) => ({
          logStreamName: name,
          creationTime: d.TrainingStartTime.getTime(),
          firstEventTimestamp: d.TrainingStartTime.getTime(),
          lastEventTimestamp: d.LastModifiedTime.getTime(),
          lastIngestionTime: d.LastModifiedTime.getTime(),
          arn: `${d.TrainingJobArn.replace(/:sagemaker:/, ':logs:').replace(/:training-job\/.*$/, '')}:log-group:${TRAINING_LOG_GROUP}:log-stream:${name}`,
          storedBytes: 0,
        })),
        ...(nextToken ? { nextToken } : {}),
      };
    },
    GetLogEvents: async (input) => {
      group(input);
      const d = await jobOf(input['logStreamName']);
      const text = (await runner.logs(d.TrainingJobName)) ?? '';
      const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
      const limit = input['limit'] ?? 10_000;
      if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 10_000) {
        throw new AwsError('InvalidParameterException', `limit must be between 1 and 10000, but ${JSON.stringify(limit)} was provided`);
      }
      // Tokens are positions: `f/<n>` reads forward from line n, `b/<n>` backward up to it.
      const token = input['nextToken'];
      let from: number;
      let to: number;
      if (typeof token === 'string' && /^[fb]\/\d+$/.test(token)) {
        const n = Math.min(Number(token.slice(2)), lines.length);
        [from, to] = token.startsWith('f') ? [n, Math.min(n + limit, lines.length)] : [Math.max(0, n - limit), n];
      } else if (token !== undefined) {
        throw new AwsError('InvalidParameterException', `The specified nextToken is invalid: ${JSON.stringify(token)}`);
      } else if (input['startFromHead'] === true) {
        [from, to] = [0, Math.min(limit, lines.length)];
      } else {
        [from, to] = [Math.max(0, lines.length - limit), lines.length];
      }
      const at = d.LastModifiedTime.getTime();
      return {
        events: lines.slice(from, to).map((message) => ({ timestamp: at, message, ingestionTime: at })),
        nextForwardToken: `f/${to}`,
        nextBackwardToken: `b/${from}`,
      };
    },
  };
}

function requiredName(input: Record<string, unknown>): string {
  const name = input['TrainingJobName'];
  if (typeof name !== 'string' || !/^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/.test(name)) {
    throw new AwsError(
      'ValidationException',
      `1 validation error detected: Value ${JSON.stringify(name ?? null)} at 'trainingJobName' failed to satisfy constraint: ` +
        `Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`,
    );
  }
  return name;
}

function optionalString(input: Record<string, unknown>, field: string): string | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    throw new AwsError('ValidationException', `${field} must be a string, but ${JSON.stringify(v)} was provided`);
  }
  return v;
}

function oneOf<T extends string>(input: Record<string, unknown>, field: string, values: readonly T[]): T | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (!values.includes(v as T)) {
    throw new AwsError(
      'ValidationException',
      `1 validation error detected: Value ${JSON.stringify(v)} at '${field.charAt(0).toLowerCase()}${field.slice(1)}' failed to satisfy constraint: ` +
        `Member must satisfy enum value set: [${values.join(', ')}]`,
    );
  }
  return v as T;
}

/** A timestamp member as the JSON protocol sends it (epoch seconds), in milliseconds. */
function epochMillis(input: Record<string, unknown>, field: string): number | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new AwsError('ValidationException', `${field} must be a timestamp in epoch seconds, but ${JSON.stringify(v)} was provided`);
  }
  return v * 1000;
}

function asAwsError(err: unknown): unknown {
  return err instanceof SageMakerApiError ? new AwsError(err.code, err.detail) : err;
}
