/**
 * Task integrations: what a Task's `Resource` ARN runs locally. The runner looks every Task up
 * here before an execution starts; the lead fills the registry with the real engines through the
 * small interfaces below (each mirrors the AWS API the integration calls, with the SDK's PascalCase
 * parameter names the ASL uses), and each adapter shapes outputs and errors as Step Functions does.
 */
import { randomUUID } from 'node:crypto';
import type { StartQueryExecutionInput } from '../athena/engine';

/** A JSON value as states pass them around. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** What a handler knows about the Task it runs. */
export interface TaskContext {
  readonly stateName: string;
  readonly stateMachineName: string;
  readonly executionArn: string;
  /** The resolved `Resource`. */
  readonly resource: string;
  /** Aborted when the execution is stopped. */
  readonly signal: AbortSignal;
  /** `$$.Task.Token`, when the Task is `.waitForTaskToken` (set by the runner). */
  readonly taskToken?: string;
}

export type TaskHandler = (parameters: Json, context: TaskContext) => Promise<Json>;

/**
 * A Task failure as Step Functions reports it: `error` is what `Retry`/`Catch` `ErrorEquals`
 * match, `cause` the text (often JSON) they see in `Cause`.
 */
export class TaskFailure extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    // aws-local-stepfunctions matches ErrorEquals against `name` and reports `message` as Cause.
    this.name = error;
  }
}

export interface Integration {
  /** Short label for history events and messages, e.g. `lambda:invoke`. */
  readonly label: string;
  /** `resourceType` / `resource` in TaskScheduled history events. */
  readonly resourceType: string;
  readonly resourceName: string;
  readonly handler: TaskHandler;
  /** `.waitForTaskToken`: the runner waits for SendTaskSuccess/Failure after the handler. */
  readonly waitForToken?: boolean;
}

interface Registration {
  readonly match: (resource: string) => boolean;
  readonly integration: (resource: string) => Integration;
}

/**
 * Maps Task `Resource` ARNs to local integrations. Later registrations win, so the lead can
 * override a built-in one.
 *
 * @example
 * const registry = new IntegrationRegistry()
 *   .use(lambdaIntegrations(lambdaEngine))
 *   .use(athenaIntegrations(athenaEngine));
 * registry.find('arn:aws:states:::lambda:invoke')?.label; // 'lambda:invoke'
 */
export class IntegrationRegistry {
  private readonly registrations: Registration[] = [];

  /** Registers one service pattern: `arn:aws:states:::<service>:<action>` with `*` wildcards. */
  register(pattern: string | RegExp, handler: TaskHandler, label?: string): this {
    const re = typeof pattern === 'string' ? patternToRegExp(pattern) : pattern;
    this.registrations.push({
      match: (r) => re.test(stripWait(r)),
      integration: (r) => integrationFor(r, handler, label),
    });
    return this;
  }

  /** Adds a group of registrations (the `…Integrations()` helpers below). */
  use(group: (registry: IntegrationRegistry) => void): this {
    group(this);
    return this;
  }

  /** The integration that runs `resource`, or `undefined` when none is registered. */
  find(resource: string): Integration | undefined {
    for (let i = this.registrations.length - 1; i >= 0; i--) {
      const reg = this.registrations[i]!;
      if (reg.match(resource)) return reg.integration(resource);
    }
    return undefined;
  }
}

const WAIT = '.waitForTaskToken';
const stripWait = (r: string) => (r.endsWith(WAIT) ? r.slice(0, -WAIT.length) : r);

function patternToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^:]*');
  // Any partition (aws, aws-cn, aws-us-gov): CDK renders `arn:${AWS::Partition}:…`.
  return new RegExp(`^${body.replace(/^arn:aws:/, 'arn:aws[\\w-]*:')}$`);
}

function integrationFor(resource: string, handler: TaskHandler, label?: string): Integration {
  const lambdaArn = /^arn:aws[\w-]*:lambda:[^:]*:[^:]*:function:/.test(resource);
  const m = /^arn:aws[\w-]*:states:::(?:aws-sdk:)?([^:]+):(.+)$/.exec(stripWait(resource));
  return {
    label: label ?? (lambdaArn ? 'lambda' : stripWait(resource).replace(/^arn:aws[\w-]*:states:::/, '')),
    resourceType: lambdaArn ? 'lambda' : (m?.[1] ?? 'unknown'),
    resourceName: lambdaArn ? resource : (m?.[2] ?? resource),
    handler,
    waitForToken: resource.endsWith(WAIT),
  };
}

// ---------------------------------------------------------------------------------------------
// Lambda

/** What the Lambda engine answers for one invocation, as Lambda's Invoke API does. */
export interface LambdaInvocationResult {
  /** The function's response (parsed JSON), or for a function error `{errorType, errorMessage, trace}`. */
  readonly payload: unknown;
  /** Set when the function failed (`Unhandled` for thrown errors, as Lambda reports). */
  readonly functionError?: string;
  /** @default '$LATEST' */
  readonly executedVersion?: string;
  /** @default 200 */
  readonly statusCode?: number;
}

/**
 * The Lambda engine as the runner calls it. A thrown error is a service error (e.g. an unknown
 * function: `name = 'ResourceNotFoundException'`), reported as `Lambda.<name>`.
 */
export interface LambdaInvoker {
  invoke(request: {
    functionName: string;
    payload: unknown;
    qualifier?: string;
    invocationType?: 'RequestResponse' | 'Event' | 'DryRun';
    signal?: AbortSignal;
  }): Promise<LambdaInvocationResult>;
}

/** `arn:aws:lambda:r:a:function:name[:qualifier]`, `a:function:name` or a bare name → name + qualifier. */
export function parseFunctionName(ref: string): { functionName: string; qualifier?: string } {
  const m = /^(?:arn:aws[\w-]*:lambda:[^:]*:)?(?:\d{12}:)?function:([^:]+)(?::(.+))?$/.exec(ref);
  if (m) return { functionName: m[1]!, ...(m[2] ? { qualifier: m[2] } : {}) };
  const [functionName, qualifier] = ref.split(':');
  return { functionName: functionName!, ...(qualifier ? { qualifier } : {}) };
}

/** A function error → the Task failure Step Functions reports (error = the function's errorType). */
function lambdaFailure(result: LambdaInvocationResult): TaskFailure {
  const p = (result.payload ?? {}) as { errorType?: unknown; errorMessage?: unknown };
  const error = typeof p.errorType === 'string' && p.errorType ? p.errorType : 'Lambda.Unknown';
  return new TaskFailure(error, JSON.stringify(result.payload ?? {}));
}

function lambdaServiceFailure(err: unknown): TaskFailure {
  if (err instanceof TaskFailure) return err;
  const e = err as Error;
  const name = e?.name && e.name !== 'Error' ? e.name : 'ServiceException';
  return new TaskFailure(`Lambda.${name}`, e?.message ?? String(err));
}

const sdkMetadata = (status = 200) => ({
  SdkHttpMetadata: {
    AllHttpHeaders: { 'Content-Type': ['application/json'], 'X-Amz-Executed-Version': ['$LATEST'] },
    HttpHeaders: { 'Content-Type': 'application/json', 'X-Amz-Executed-Version': '$LATEST' },
    HttpStatusCode: status,
  },
  SdkResponseMetadata: { RequestId: randomUUID() },
});

async function invokeLambda(
  invoker: LambdaInvoker,
  ref: string,
  payload: unknown,
  signal: AbortSignal,
  extra: { qualifier?: string; invocationType?: 'RequestResponse' | 'Event' | 'DryRun' } = {},
): Promise<LambdaInvocationResult> {
  const { functionName, qualifier } = parseFunctionName(ref);
  let result: LambdaInvocationResult;
  try {
    result = await invoker.invoke({
      functionName,
      payload,
      qualifier: extra.qualifier ?? qualifier,
      invocationType: extra.invocationType,
      signal,
    });
  } catch (err) {
    throw lambdaServiceFailure(err);
  }
  if (result.functionError) throw lambdaFailure(result);
  return result;
}

/**
 * `arn:aws:states:::lambda:invoke` (output `{ExecutedVersion, Payload, SdkHttpMetadata,
 * SdkResponseMetadata, StatusCode}`) and bare Lambda ARNs (output = the function's response).
 *
 * @example
 * registry.use(lambdaIntegrations({ invoke: async ({ functionName, payload }) => ({ payload: await run(functionName, payload) }) }));
 */
/** The optimized Lambda integration's Task resource, which {@link lambdaIntegrations} runs. */
export const LAMBDA_INVOKE_RESOURCE = 'arn:aws:states:::lambda:invoke';
/** A bare function ARN (optionally qualified) as a Task resource, which {@link lambdaIntegrations} runs too. */
export const LAMBDA_FUNCTION_RESOURCE = /^arn:aws[\w-]*:lambda:[^:]+:[^:]+:function:[^:]+(:[^:]+)?$/;

export function lambdaIntegrations(invoker: LambdaInvoker): (r: IntegrationRegistry) => void {
  return (registry) => {
    registry.register(
      LAMBDA_INVOKE_RESOURCE,
      async (params, ctx) => {
        const p = (params ?? {}) as Record<string, Json>;
        if (typeof p['FunctionName'] !== 'string') {
          throw new TaskFailure(
            'States.Runtime',
            `lambda:invoke in state ${ctx.stateName} needs a FunctionName`,
          );
        }
        const result = await invokeLambda(invoker, p['FunctionName'], p['Payload'] ?? null, ctx.signal, {
          qualifier: typeof p['Qualifier'] === 'string' ? p['Qualifier'] : undefined,
          invocationType: p['InvocationType'] as 'RequestResponse' | 'Event' | 'DryRun' | undefined,
        });
        const status = result.statusCode ?? (p['InvocationType'] === 'Event' ? 202 : 200);
        return toJson({
          ExecutedVersion: result.executedVersion ?? '$LATEST',
          Payload: result.payload ?? null,
          ...sdkMetadata(status),
          StatusCode: status,
        });
      },
      'lambda:invoke',
    );
    registry.register(
      LAMBDA_FUNCTION_RESOURCE,
      async (params, ctx) =>
        toJson((await invokeLambda(invoker, ctx.resource, params, ctx.signal)).payload ?? null),
      'lambda',
    );
  };
}

// ---------------------------------------------------------------------------------------------
// Athena

/** The Athena engine as the runner calls it (the local `AthenaEngine` fits). */
export interface AthenaApi {
  startQueryExecution(
    input: StartQueryExecutionInput,
    origin?: { label?: string },
  ): Promise<{ QueryExecutionId: string }>;
  waitForQuery(queryExecutionId: string): Promise<unknown>;
  getQueryExecution(input: { QueryExecutionId: string }): Promise<unknown>;
  getQueryResults(input: {
    QueryExecutionId: string;
    NextToken?: string;
    MaxResults?: number;
  }): Promise<unknown>;
}

const athenaFailure = (err: unknown) =>
  err instanceof TaskFailure
    ? err
    : new TaskFailure(
        `Athena.${(err as Error).name || 'AthenaException'}`,
        (err as Error).message ?? String(err),
      );

/**
 * `athena:startQueryExecution` (`.sync` waits and outputs `{QueryExecution}`; a FAILED query fails
 * the Task with `States.TaskFailed` and the GetQueryExecution JSON as Cause, as on AWS),
 * `athena:getQueryExecution`, `athena:getQueryResults`.
 */
export function athenaIntegrations(athena: AthenaApi): (r: IntegrationRegistry) => void {
  return (registry) => {
    const start =
      (sync: boolean): TaskHandler =>
      async (params, ctx) => {
        const label = `state ${ctx.stateName} of state machine ${ctx.stateMachineName}`;
        try {
          const { QueryExecutionId } = await athena.startQueryExecution(
            params as unknown as StartQueryExecutionInput,
            {
              label,
            },
          );
          if (!sync) return { QueryExecutionId };
          await athena.waitForQuery(QueryExecutionId);
          const out = toJson(await athena.getQueryExecution({ QueryExecutionId })) as {
            QueryExecution: { Status: { State: string } };
          };
          if (out.QueryExecution.Status.State !== 'SUCCEEDED')
            throw new TaskFailure('States.TaskFailed', JSON.stringify(out));
          return out as unknown as Json;
        } catch (err) {
          throw athenaFailure(err);
        }
      };
    registry.register(
      'arn:aws:states:::athena:startQueryExecution.sync',
      start(true),
      'athena:startQueryExecution.sync',
    );
    registry.register(
      'arn:aws:states:::athena:startQueryExecution',
      start(false),
      'athena:startQueryExecution',
    );
    registry.register('arn:aws:states:::athena:getQueryExecution', async (params) => {
      try {
        return toJson(await athena.getQueryExecution(params as { QueryExecutionId: string }));
      } catch (err) {
        throw athenaFailure(err);
      }
    });
    registry.register('arn:aws:states:::athena:getQueryResults', async (params) => {
      try {
        return toJson(await athena.getQueryResults(params as { QueryExecutionId: string }));
      } catch (err) {
        throw athenaFailure(err);
      }
    });
  };
}

// ---------------------------------------------------------------------------------------------
// SageMaker training

/**
 * The trainer as the runner calls it: runs a training job to the end and returns what
 * DescribeTrainingJob would (`TrainingJobStatus` `Completed` or `Failed` with `FailureReason`).
 * A thrown error is an API error (bad request, duplicate name).
 */
export interface TrainingJobRunner {
  run(request: Record<string, unknown>, options: { signal: AbortSignal }): Promise<Record<string, unknown>>;
}

/**
 * `sagemaker:createTrainingJob.sync` (and without `.sync`: output `{TrainingJobArn}` while the
 * job runs on).
 */
export function sagemakerIntegrations(trainer: TrainingJobRunner): (r: IntegrationRegistry) => void {
  return (registry) => {
    const start =
      (sync: boolean): TaskHandler =>
      async (params, ctx) => {
        let job: Promise<Record<string, unknown>>;
        try {
          job = trainer.run(params as Record<string, unknown>, { signal: ctx.signal });
          if (!sync) {
            // Not awaited by the Task, as on AWS; failures surface through DescribeTrainingJob.
            job.catch(() => undefined);
            const name = String((params as Record<string, unknown>)['TrainingJobName'] ?? '');
            const arn = ctx.executionArn.replace(
              /:states:([^:]*):([^:]*):.*$/,
              `:sagemaker:$1:$2:training-job/${name.toLowerCase()}`,
            );
            return { TrainingJobArn: arn };
          }
          const out = await job;
          if (out['TrainingJobStatus'] !== 'Completed') {
            throw new TaskFailure('States.TaskFailed', JSON.stringify(toJson(out)));
          }
          return toJson(out);
        } catch (err) {
          if (err instanceof TaskFailure) throw err;
          throw new TaskFailure('SageMaker.AmazonSageMakerException', (err as Error).message ?? String(err));
        }
      };
    registry.register(
      'arn:aws:states:::sagemaker:createTrainingJob.sync',
      start(true),
      'sagemaker:createTrainingJob.sync',
    );
    registry.register(
      'arn:aws:states:::sagemaker:createTrainingJob',
      start(false),
      'sagemaker:createTrainingJob',
    );
  };
}

// ---------------------------------------------------------------------------------------------
// Generic AWS APIs (DynamoDB, S3, SNS, EventBridge)

/**
 * One AWS API, called by operation name with the SDK's PascalCase input (`PutItem`, `GetObject`,
 * …). A thrown error's `name` is the SDK exception name (`ConditionalCheckFailedException`).
 * An `@aws-sdk/client-*` client pointed at a local engine fits in one line:
 *
 * @example
 * const dynamodb: AwsApi = (op, input) => client.send(new (commands as any)[`${op}Command`](input));
 */
export type AwsApi = (operation: string, input: Record<string, unknown>) => Promise<unknown>;

const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function sdkCall(api: AwsApi, operation: string, errorPrefix: string, optimized: boolean): TaskHandler {
  return async (params) => {
    let out: unknown;
    try {
      out = await api(operation, (params ?? {}) as Record<string, unknown>);
    } catch (err) {
      const e = err as Error;
      const name = e?.name && e.name !== 'Error' ? e.name : 'ServiceException';
      // Step Functions names SDK errors `<Service>.<Name>Exception`.
      throw new TaskFailure(
        `${errorPrefix}.${name.endsWith('Exception') ? name : `${name}Exception`}`,
        e?.message ?? String(err),
      );
    }
    const body = { ...((out ?? {}) as Record<string, unknown>) };
    delete body['$metadata'];
    return toJson(optimized ? { ...body, ...sdkMetadata() } : body);
  };
}

function awsSdkGroup(service: string, errorPrefix: string, api: AwsApi): (r: IntegrationRegistry) => void {
  return (registry) => {
    registry.register(
      new RegExp(`^arn:aws[\\w-]*:states:::aws-sdk:${service}:\\w+$`),
      async (params, ctx) => {
        const action = /:aws-sdk:[^:]+:(\w+)/.exec(ctx.resource)![1]!;
        return sdkCall(api, pascal(action), errorPrefix, false)(params, ctx);
      },
    );
  };
}

/** `dynamodb:putItem|getItem|updateItem|deleteItem` (optimized) and `aws-sdk:dynamodb:*`. */
export function dynamoDbIntegrations(api: AwsApi): (r: IntegrationRegistry) => void {
  return (registry) => {
    awsSdkGroup('dynamodb', 'DynamoDb', api)(registry);
    for (const action of ['putItem', 'getItem', 'updateItem', 'deleteItem']) {
      registry.register(
        `arn:aws:states:::dynamodb:${action}`,
        sdkCall(api, pascal(action), 'DynamoDB', true),
      );
    }
  };
}

/** `aws-sdk:s3:*` (e.g. `getObject`, `putObject`, `listObjectsV2`, `copyObject`). */
export function s3Integrations(api: AwsApi): (r: IntegrationRegistry) => void {
  return awsSdkGroup('s3', 'S3', api);
}

/** `sns:publish` (optimized) and `aws-sdk:sns:*`. */
export function snsIntegrations(api: AwsApi): (r: IntegrationRegistry) => void {
  return (registry) => {
    awsSdkGroup('sns', 'Sns', api)(registry);
    registry.register('arn:aws:states:::sns:publish', sdkCall(api, 'Publish', 'SNS', true));
  };
}

/** `events:putEvents` (optimized) and `aws-sdk:eventbridge:*`. */
export function eventsIntegrations(api: AwsApi): (r: IntegrationRegistry) => void {
  return (registry) => {
    awsSdkGroup('eventbridge', 'EventBridge', api)(registry);
    const putEvents = sdkCall(api, 'PutEvents', 'EventBridge', true);
    // The optimized integration takes an entry's Detail as a JSON object and sends it serialized,
    // as Step Functions does (the SDK call itself takes a string).
    registry.register('arn:aws:states:::events:putEvents', (params, context) => {
      const p = (params ?? {}) as { Entries?: unknown };
      const entries = Array.isArray(p.Entries)
        ? p.Entries.map((e: unknown) =>
            e && typeof e === 'object' && 'Detail' in e && typeof (e as { Detail: unknown }).Detail !== 'string'
              ? { ...(e as object), Detail: JSON.stringify((e as { Detail: unknown }).Detail) }
              : e,
          )
        : p.Entries;
      return putEvents({ ...(p as object), Entries: entries } as never, context);
    });
  };
}

/**
 * A value as Step Functions serializes service responses: plain JSON, with dates as epoch
 * milliseconds (how `.sync` outputs show `SubmissionDateTime` and the like) and no `undefined`.
 */
export function toJson(value: unknown): Json {
  return JSON.parse(
    JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
      const raw = this[key];
      if (raw instanceof Date) return raw.getTime();
      if (typeof v === 'bigint') return Number(v);
      return v;
    }),
  ) as Json;
}
