/**
 * The local platform: the synthesized local stage brought up on one machine. Every engine is
 * created from the cloud assembly — buckets, tables, functions, routes, Glue tables and state
 * machines are whatever the templates say — so what runs here is what deploys.
 *
 *   S3 buckets          → directories, served by an S3-compatible endpoint
 *   DynamoDB tables     → dynalite (LevelDB under the state dir)
 *   Lambda functions    → their esbuild bundles in worker threads, env resolved to local endpoints
 *   API Gateway         → one HTTP gateway on 127.0.0.1 with every REST API's routes
 *   Athena + Glue       → DuckDB views over the lake directories
 *   Step Functions      → the kit's runner around aws-local-stepfunctions
 *   EventBridge rules   → matched locally; targets invoked
 *   SageMaker training  → the trainer as a local process under the container contract
 *
 * Control-plane APIs (Step Functions, Athena, EventBridge, Lambda Invoke) are served in AWS's own
 * wire protocols on one loopback endpoint, so the CLI and any AWS SDK client talk to the local
 * platform exactly as to AWS.
 *
 * @example
 * const platform = await startPlatform({ stateDir: '.mlops/local', assemblyDir, port: 8080 });
 * console.log(platform.gatewayUrl);
 * await platform.close();
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import * as ddb from '@aws-sdk/client-dynamodb';
import * as s3sdk from '@aws-sdk/client-s3';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { type LocalStage, readAssembly } from './assembly';
import { AthenaEngine, catalogFromAssembly } from './athena';
import { AwsError, type AwsEndpoint, startAwsEndpoint } from './aws-endpoint';
import { athenaLists, eventBridgeLists, lambdaConfiguration, stepFunctionsLists } from './control-plane';
import { type DynamoDbEngine, startDynamoDb, tableSpecFromResource } from './dynamodb';
import {
  type ApiGateway,
  type ApiRoute,
  MAX_PAYLOAD_BYTES,
  routesFromTemplate,
  startApiGateway,
} from './apigw';
import { consoleHandler } from './console';
import { createGuardedServer } from './http-guard';
import { LocalEventBus } from './events';
import { LocalScheduler } from './scheduler';
import { functionSpecFromResource, LambdaEngine } from './lambda';
import { layout } from './layout';
import { S3Store, type S3Server, startS3Server } from './s3';
import {
  athenaIntegrations,
  dynamoDbIntegrations,
  eventsIntegrations,
  IntegrationRegistry,
  lambdaIntegrations,
  LocalStepFunctions,
  loadStateMachines,
  prewarmAhead,
  type ProgressEvent,
  s3Integrations,
  sagemakerIntegrations,
  snsIntegrations,
  type StateMachineSpec,
  type TrainingJobRunner,
} from './sfn';
import { createLocalTrainingRunner, type LocalTrainingRunner, sagemakerApi, trainingLogsApi } from './sagemaker';
import { cleanUpInterruptedReleases, rollBackInterruptedRegistrations } from './recovery';
import { HttpMlflowClient } from '../adapters/sigv4-http/mlflow-client';
import { releaseObjects } from '../adapters/s3/release-objects';
import { frontDoorError, frontDoorLimits, LocalServing, proxy, type ServingRoute, servingRoutes } from './serving';
import { type PlatformFacts, readFacts } from './facts';
import { listenOnLoopback } from './listen';
import { REQUEST_LOG_PREFIX } from '../serving/request-log';
import { acquireStateLock, processStartTime, type StateLock } from './lock';
import { PLATFORM_INFO_PATH, type RuntimeInfo } from './runtime-info';

export interface StartPlatformOptions {
  readonly stateDir: string;
  /**
   * The cloud assembly holding the local stage (see `synthLocalStage`), or the synthesis that will
   * write it: the engines that need nothing from the assembly (DynamoDB, DuckDB, the front door's
   * listener) start meanwhile.
   */
  readonly assemblyDir: string | Promise<string>;
  /** @default - the assembly's only stage */
  readonly stageName?: string;
  /** The gateway's port; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** The AWS endpoint's, S3's and DynamoDB's ports (see `lib/local/ports.ts`); 0 or absent picks a free one. @default {} */
  readonly endpointPorts?: { readonly aws?: number; readonly s3?: number; readonly dynamodb?: number };
  /** Lines worth showing a person (SNS notifications, deployments, gateway errors). */
  readonly log?: (line: string) => void;
  /**
   * What CloudWatch Logs holds on AWS: each function's START/END/REPORT lines and what it prints,
   * prefixed `[function name]`. `mlops up` sends them to the log file. @default log
   */
  readonly functionLog?: (line: string) => void;
  /**
   * Request logging of the served models: the fraction of predictions logged and the most bytes
   * written under the lake's `predictions/` before logging stops. @default the local environment config's `serving.requestLogSampleRate`, 64 MiB
   */
  readonly requestLog?: { readonly sampleRate?: number; readonly maxBytes?: number };
  /** Every Step Functions history event, as it happens. */
  readonly onProgress?: (event: ProgressEvent) => void;
  /**
   * The local Athena's UNLOAD: rows per Parquet file (Athena writes an UNLOAD as many files).
   * @default 1,000,000 (`DEFAULT_UNLOAD_FILE_ROWS`)
   */
  readonly athena?: { readonly unloadFileRows?: number };
  /**
   * The state dir's lock, when the caller took it already (`mlops up` takes it before synthesis).
   * @default - taken here, before any engine opens, and released by `close()` (a lock passed in is
   * left to the caller)
   */
  readonly lock?: StateLock;
  /**
   * Runs `sagemaker:createTrainingJob.sync` tasks; a {@link LocalTrainingRunner} also answers the
   * SageMaker training-job API and the jobs' CloudWatch Logs. @default the kit's trainer as a local process
   */
  readonly trainingRunner?: (platform: {
    store: S3Store;
    stateDir: string;
  }) => TrainingJobRunner | LocalTrainingRunner;
  /**
   * The console's build directory (see `buildConsole`), or the build under way; served at the
   * gateway's `/`. @default - no console (a build that rejects or resolves undefined: none either)
   */
  readonly console?: string | Promise<string | undefined>;
}

export { PLATFORM_INFO_PATH, readRuntimeInfo, type RuntimeInfo } from './runtime-info';

export interface LocalPlatform {
  readonly stage: LocalStage;
  /** What the stacks declare about the stage: machines by role, buckets, serving (see `facts.ts`). */
  readonly facts: PlatformFacts;
  readonly stateDir: string;
  readonly gatewayUrl: string;
  readonly info: RuntimeInfo;
  readonly store: S3Store;
  readonly lambda: LambdaEngine;
  readonly sfn: LocalStepFunctions;
  readonly athena: AthenaEngine;
  readonly events: LocalEventBus;
  readonly scheduler: LocalScheduler;
  readonly serving: LocalServing;
  readonly routes: readonly ApiRoute[];
  /** The console's URL (`<gateway>/`) when it is served. */
  readonly consoleUrl?: string;
  /** Writes `runtime.json` so other commands use this platform instead of starting their own. */
  publish(): void;
  close(): Promise<void>;
}

export async function startPlatform(options: StartPlatformOptions): Promise<LocalPlatform> {
  const log = options.log ?? (() => {});
  const functionLog = options.functionLog ?? log;
  const ports = options.endpointPorts ?? {};
  const { stateDir } = options;
  mkdirSync(stateDir, { recursive: true });
  // One platform per state dir: dynalite's LevelDB and the execution records are not shared.
  const lock = options.lock ?? acquireStateLock(stateDir);
  // A lock the caller passed in is the caller's to release.
  const closers: (() => Promise<void> | void)[] = options.lock ? [] : [() => lock.release()];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c();
  };

  try {
    // Started together, while the assembly may still be being synthesized; each registers its
    // closer as it comes up, so a failure of one closes the others.
    const started = <T>(work: Promise<T>, closer: (t: T) => Promise<void> | void) =>
      work.then((t) => {
        closers.push(() => closer(t));
        return t;
      });
    const staged = Promise.resolve(options.assemblyDir).then((dir) => {
      const stage = readAssembly(dir, { stage: options.stageName });
      return { stage, facts: readFacts(stage), catalog: catalogFromAssembly(stage) };
    });
    // The front door's routes and error shapes come with the assembly; until then it answers 503.
    let predictionRoutes: ServingRoute[] = [];
    const doorError = frontDoorError(() => predictionRoutes);

    // The front door: serving's paths to the model servers, everything else to the API gateway.
    const sockets = new Set<Socket>();
    // Bound before functions are registered: their environments point at it (see localizeEnvironment).
    let servingRef: LocalServing | undefined;
    let gatewayRef: ApiGateway | undefined;
    let consoleRef: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
    let infoRef: RuntimeInfo | undefined;
    const front = createGuardedServer(
      (req, res) => {
        if (req.method === 'GET' && req.url === PLATFORM_INFO_PATH && infoRef) {
          // Another platform's CLI (`mlops release --from <url>`) finds the endpoints behind a gateway URL here.
          const { pid: _pid, processStart: _start, ...endpoints } = infoRef;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(endpoints));
          return;
        }
        if (consoleRef?.(req, res)) return;
        if (servingRef?.handle(req, res)) return;
        if (gatewayRef) {
          proxy(req, res, gatewayRef.endpoint, { maxBodyBytes: MAX_PAYLOAD_BYTES, error: doorError });
        } else {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end('{"message":"the local platform is starting"}');
        }
      },
      {
        ...frontDoorLimits(() => predictionRoutes),
        error: doorError,
        onError: (err) => log(`[front door] ${errorText(err)}`),
      },
    );
    front.keepAliveTimeout = 65_000;
    front.on('connection', (sock) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    const closeFront = () =>
      new Promise<void>((resolve) => {
        front.close(() => resolve());
        for (const sock of sockets) sock.destroy();
      });

    const catalogOf = staged.then((s) => s.catalog);
    // DuckDB awaits it only once started: until then its rejection is reported through `staged`,
    // not as an unhandled rejection that ends the process.
    catalogOf.catch(() => undefined);
    const early = await Promise.allSettled([
      staged,
      started(startDynamoDb({ stateDir, port: ports.dynamodb }), (d) => d.close()),
      started(AthenaEngine.start({ stateDir, catalog: catalogOf, ...(options.athena?.unloadFileRows ? { unloadFileRows: options.athena.unloadFileRows } : {}) }), (a) => a.close()),
      started(listenOnLoopback(front, options.port), closeFront),
    ] as const);
    const failed = early.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const value = <T>(r: PromiseSettledResult<T>) => (r as PromiseFulfilledResult<T>).value;
    const { stage, facts, catalog } = value(early[0]);
    const dynamo: DynamoDbEngine = value(early[1]);
    const athena = value(early[2]);
    const frontPort = value(early[3]);
    const frontUrl = `http://127.0.0.1:${frontPort}`;
    // An assembly the kit's stacks did not build (a fixture, a user's own app) may not declare them:
    // then nothing is served and no request log is kept.
    const servingFact = facts.optional.serving();
    const rawBucket = facts.optional.bucket('raw');
    predictionRoutes = servingRoutes(servingFact?.routes ?? []);

    // S3: every bucket of the stage.
    const buckets = stage.resourcesOfType('AWS::S3::Bucket').map((r) => stage.physicalName(r));
    const store = await S3Store.open(stateDir, buckets);
    const s3: S3Server = await startS3Server({ store, region: stage.region, port: ports.s3 });
    closers.push(() => s3.close());

    // DynamoDB: tables from each stack's template, named as the assembly names them, so `Ref` in
    // function environments finds the same table.
    const tables = stage
      .resourcesOfType('AWS::DynamoDB::Table')
      .concat(stage.resourcesOfType('AWS::DynamoDB::GlobalTable'))
      .map((r) =>
        tableSpecFromResource(
          r.logicalId,
          { Type: r.type, Properties: r.rawProperties },
          (v) => stage.resolve(r.stackName, v),
          stage.physicalName(r),
        ),
      );
    if (tables.length > 0) await dynamo.ensureTables(tables);

    // Athena over the lake directories.
    const lists = { stage, catalog, queryExecutions: () => athena.listQueryExecutions() };

    // The control-plane endpoint is started first: functions need its URL in their environment.
    let sfnRef: LocalStepFunctions | undefined;
    let lambdaRef: LambdaEngine | undefined;
    let eventsRef: LocalEventBus | undefined;
    const sfnApi = () => sfnRef ?? unavailable('Step Functions');
    // SageMaker training jobs run the kit's trainer as a local process unless the caller supplies a runner.
    const trainingRunner =
      options.trainingRunner?.({ store, stateDir }) ??
      createLocalTrainingRunner({ store, stateDir, account: stage.account, region: stage.region });
    // Jobs started through CreateTrainingJob stop with the platform (pipelines' jobs stop with their executions).
    const apiJobs = new AbortController();
    const endpoint: AwsEndpoint = await startAwsEndpoint({
      port: ports.aws,
      services: {
        AWSStepFunctions: {
          ListStateMachines: () => ({
            stateMachines: sfnApi().machines.map((m) => ({
              stateMachineArn: m.arn,
              name: m.name,
              type: m.type,
              creationDate: 0,
            })),
          }),
          DescribeStateMachine: (i) => describeMachine(sfnApi().machines, String(i['stateMachineArn'])),
          StartExecution: (i) => sfnApi().startExecution(i as never),
          DescribeExecution: (i) => sfnApi().describeExecution(i as never),
          ListExecutions: (i) => sfnApi().listExecutions(i as never),
          GetExecutionHistory: (i) => sfnApi().getExecutionHistory(i as never),
          StopExecution: (i) => sfnApi().stopExecution(i as never),
          // `.waitForTaskToken` Tasks (the release machine's approval): `mlops approve|reject`.
          SendTaskSuccess: (i) => (sfnApi().sendTaskSuccess(i as never), {}),
          SendTaskFailure: (i) => (sfnApi().sendTaskFailure(i as never), {}),
          SendTaskHeartbeat: (i) => (sfnApi().sendTaskHeartbeat(i as never), {}),
          ...stepFunctionsLists(stage),
        },
        AmazonAthena: {
          // The engine checks QueryString (a string, at most Athena's 262,144 bytes).
          StartQueryExecution: (i) => athena.startQueryExecution(i as never, { label: 'an Athena API call' }),
          GetQueryExecution: (i) => athena.getQueryExecution(i as never),
          GetQueryResults: (i) => athena.getQueryResults(i as never),
          ...athenaLists(lists),
        },
        AWSEvents: {
          PutEvents: (i) => (eventsRef ?? unavailable('EventBridge')).putEvents(i as never),
          ...eventBridgeLists(stage),
        },
        // A custom runner without the job API leaves these unanswered (UnknownOperationException).
        ...('list' in trainingRunner
          ? {
              SageMaker: sagemakerApi(trainingRunner, { signal: apiJobs.signal }),
              Logs_20140328: trainingLogsApi(trainingRunner),
            }
          : {}),
      },
      getFunction: (name) => lambdaConfiguration(stage, name),
      account: stage.account,
      region: stage.region,
      listFunctions: () =>
        stage
          .resourcesOfType('AWS::Lambda::Function')
          .filter((r) => r.asset)
          .map((r) => ({ FunctionName: stage.physicalName(r), FunctionArn: stage.arn(r) })),
      onError: (err) => log(`[aws endpoint] ${errorText(err)}`),
      invokeFunction: async (name, payload) => {
        const r = await (lambdaRef ?? unavailable('Lambda')).invoke(name, payload);
        return { payload: r.payload, functionError: r.functionError };
      },
    });
    closers.push(() => endpoint.close());
    closers.push(() => apiJobs.abort());


    // Lambda: each function's bundle from the assembly, with its own resolved environment.
    const platformEnv = {
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_ATHENA: endpoint.url,
      AWS_ENDPOINT_URL_SFN: endpoint.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: endpoint.url,
      AWS_ENDPOINT_URL_LAMBDA: endpoint.url,
      // Functions run on the host's Node 20; the SDK's Node 22 notice would flood the logs.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const lambda = new LambdaEngine({
      region: stage.region,
      accountId: stage.account,
      platformEnv,
      log: (fn, line) => functionLog(`[${fn}] ${line}`),
    });
    lambdaRef = lambda;
    closers.push(() => lambda.close());
    for (const r of stage.resourcesOfType('AWS::Lambda::Function')) {
      if (!r.asset) continue; // inline or image code has no local bundle
      lambda.register(
        localizeEnvironment(
          functionSpecFromResource(
            r.logicalId,
            { Type: r.type, Properties: r.rawProperties },
            (v) => stage.resolve(r.stackName, v),
            {
              codeDir: r.asset.path,
              physicalName: stage.physicalName(r),
            },
          ),
          frontUrl,
        ),
      );
    }

    // SDK-shaped clients for the Step Functions service integrations.
    const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    const ddbClient = new ddb.DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: stage.region,
      credentials,
    });
    const s3Client = new s3sdk.S3Client({
      endpoint: s3.endpoint,
      region: stage.region,
      credentials,
      forcePathStyle: true,
    });
    closers.push(() => {
      ddbClient.destroy();
      s3Client.destroy();
    });
    const sdk =
      (module: Record<string, unknown>, client: { send(c: unknown): Promise<unknown> }) =>
      (operation: string, input: Record<string, unknown>) => {
        const Command = module[`${operation}Command`] as (new (i: unknown) => unknown) | undefined;
        if (!Command) throw new AwsError('InvalidAction', `${operation} is not an operation of this service`);
        return client.send(new Command(input));
      };

    const notifications = join(stateDir, 'sns');
    /** SNS Publish, locally: appended to `sns/messages.jsonl` and shown in the log. */
    const publishNotification = (input: Record<string, unknown>) => {
      mkdirSync(notifications, { recursive: true });
      const record = { at: new Date().toISOString(), ...input };
      writeFileSync(join(notifications, 'messages.jsonl'), `${JSON.stringify(record)}\n`, { flag: 'a' });
      const whole = `[sns] ${String(input['Subject'] ?? '')} ${String(input['Message'] ?? '')}`.trim();
      // With a separate function log, the person sees the subject and the log keeps the whole
      // message (often a JSON document).
      if (options.functionLog) {
        log(`[sns] ${String(input['Subject'] ?? '(no subject)')}`);
        options.functionLog(whole);
      } else log(whole);
      return { MessageId: crypto.randomUUID() };
    };

    const events = new LocalEventBus({
      stage,
      stateDir,
      invokeFunction: (name, event) => lambda.invoke(name, event),
      startExecution: (arn, input) =>
        sfnApi().startExecution({ stateMachineArn: arn, input: JSON.stringify(input) }),
      publish: async (topicArn, message) => publishNotification({ TopicArn: topicArn, Message: message }),
      log,
    });
    eventsRef = events;
    // Scheduler: rate(...) schedules of the stage (locally, the registry's outbox flush).
    const scheduler = new LocalScheduler({
      stage,
      invokeFunction: (name, event) => lambda.invoke(name, event),
      startExecution: (arn, input) => sfnApi().startExecution({ stateMachineArn: arn, input: JSON.stringify(input) }),
      log,
    });
    scheduler.start();
    closers.push(() => scheduler.stop());
    const integrations = new IntegrationRegistry()
      .use(
        lambdaIntegrations({
          invoke: async ({ functionName, payload }) => {
            const r = await lambda.invoke(functionName, payload);
            return {
              payload: r.payload as never,
              functionError: r.functionError,
              statusCode: 200,
              executedVersion: '$LATEST',
            };
          },
        }),
      )
      .use(athenaIntegrations(athena))
      .use(dynamoDbIntegrations(sdk(ddb, ddbClient)))
      .use(s3Integrations(sdk(s3sdk, s3Client)))
      .use(
        snsIntegrations(async (operation, input) => {
          if (operation !== 'Publish')
            throw new AwsError('InvalidAction', `SNS ${operation} is not available locally`);
          return publishNotification(input);
        }),
      )
      .use(eventsIntegrations((operation, input) => events.call(operation, input)));
    integrations.use(sagemakerIntegrations(trainingRunner));

    const sfn = new LocalStepFunctions({
      stateDir,
      machines: loadStateMachines(stage),
      integrations,
      onEvent: options.onProgress,
      log,
      // Distributed Map's ItemReader and ResultWriter read and write the local S3.
      s3: sdk(s3sdk, s3Client),
    });
    sfnRef = sfn;
    closers.push(() => sfn.detach());
    // A Task with no local integration fails here, naming the state, before anything runs.
    sfn.validate();
    closers.push(prewarmAhead(sfn, lambda));

    // One gateway for every REST API of the stage, at the same paths as behind API Gateway.
    const routes: ApiRoute[] = [];
    for (const stack of stage.stacks) {
      for (const api of routesFromTemplate(stack.template.Resources ?? {}, (v) =>
        stage.resolve(stack.stackName, v),
      )) {
        routes.push(...api.routes);
      }
    }
    const gateway: ApiGateway = await startApiGateway({
      port: 0,
      accountId: stage.account,
      invoker: async (fn: string, event: APIGatewayProxyEvent) => {
        const r = await lambda.invoke(fn, event);
        return { payload: r.payload, functionError: r.functionError, timedOut: r.timedOut };
      },
      onError: (err) => log(`[gateway] ${(err as Error).stack ?? String(err)}`),
    });
    closers.push(() => gateway.close());
    gatewayRef = gateway;
    if (routes.length > 0) gateway.mount('', { routes, stage: 'v1' });

    // Serving: promoted versions become local deployments (EKS + Seldon's stand-in).
    const serving = new LocalServing({
      s3Endpoint: s3.endpoint,
      region: stage.region,
      routes: predictionRoutes,
      requestLogDir: rawBucket ? join(layout(stateDir).bucket(rawBucket), REQUEST_LOG_PREFIX) : undefined,
      requestLogSampleRate: options.requestLog?.sampleRate,
      requestLogMaxBytes: options.requestLog?.maxBytes,
      log,
    });
    closers.push(() => serving.close());
    servingRef = serving;
    // The promotion rule as the stacks declare it (on AWS: EventBridge → canary machine → deployer);
    // its target here is serving's stand-in, which deploys what the deployer would.
    if (servingFact) {
      events.addRule({
        name: 'promotion → local serving',
        eventBusName: servingFact.eventBusName,
        eventPattern: servingFact.promotionEventPattern,
        target: async (event) => {
          const detail = (event['detail'] ?? {}) as Record<string, string | undefined>;
          const sha256 = detail['artifactSha256'];
          const versionId = detail['artifactVersionId'];
          try {
            await serving.deploy({
              namespace: servingFact.namespace,
              deployment: String(detail['modelName']),
              modelUri: String(detail['artifactUri'] ?? detail['source']),
              version: String(detail['version']),
              // What the deployer pins on EKS: the registered digest and S3 object version.
              ...(sha256 || versionId
                ? { expected: { ...(sha256 ? { sha256 } : {}), ...(versionId ? { versionId } : {}) } }
                : {}),
            });
          } catch (err) {
            // As a pod that fails to load never becomes ready: the previous version keeps serving.
            log(`[serving] refused ${String(detail['modelName'])} version ${String(detail['version'])}: ${(err as Error).message}`);
          }
        },
      });
    }

    // Executions a killed platform left RUNNING are ABORTED now; undo their half-done registrations.
    const training = facts.optional.stateMachine('training');
    const registration = training?.states?.['register'];
    if (registration) {
      const states = { register: registration, rollback: training?.states?.['rollback'] };
      await rollBackInterruptedRegistrations(sfn.recovered, states, frontUrl, log);
    }
    const releaseMachine = facts.optional.stateMachine('release');
    const artifactsBucket = facts.optional.bucket('artifacts');
    if (releaseMachine && artifactsBucket) {
      await cleanUpInterruptedReleases(
        sfn.recovered,
        releaseMachine.arn,
        {
          registry: new HttpMlflowClient({ baseUrl: frontUrl }),
          objects: releaseObjects({ source: s3Client, target: s3Client, targetBucket: artifactsBucket }),
        },
        log,
      );
    }

    // The console at the gateway's `/`, on paths no API route claims.
    const consoleDir = await Promise.resolve(options.console).catch((e: Error) => {
      log(`the console is not served: ${e.message}`);
      return undefined;
    });
    if (consoleDir) {
      const claimed = (path: string) =>
        routes.some((r) => r.resourcePath === '/{proxy+}' || r.resourcePath === path) ||
        predictionRoutes.some((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
      consoleRef = consoleHandler(
        consoleDir,
        {
          gateway: '',
          awsEndpoint: endpoint.url,
          s3Endpoint: s3.endpoint,
          region: stage.region,
          servingNamespace: servingFact?.namespace ?? 'seldon',
        },
        claimed,
      );
    }

    const info: RuntimeInfo = {
      pid: process.pid,
      processStart: processStartTime(process.pid),
      startedAt: new Date().toISOString(),
      stage: stage.stageName,
      gatewayUrl: frontUrl,
      awsEndpoint: endpoint.url,
      s3Endpoint: s3.endpoint,
      dynamodbEndpoint: dynamo.endpoint,
      region: stage.region,
      account: stage.account,
    };
    infoRef = info;
    const runtimeFile = layout(stateDir).runtimeFile;
    let published = false;

    return {
      stage,
      facts,
      stateDir,
      gatewayUrl: frontUrl,
      info,
      store,
      lambda,
      sfn,
      athena,
      events,
      scheduler,
      serving,
      routes,
      consoleUrl: consoleDir ? `${frontUrl}/` : undefined,
      publish() {
        const tmp = `${runtimeFile}.${process.pid}.tmp`;
        writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`);
        renameSync(tmp, runtimeFile);
        published = true;
      },
      async close() {
        if (published) rmSync(runtimeFile, { force: true });
        await close();
      },
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * A function's environment as the local platform runs it: an API Gateway URL
 * (`https://<id>.execute-api.<region>.amazonaws.com/<stage>`) becomes the local front door, which
 * serves the same paths.
 */
export function localizeEnvironment<T extends { environment?: Readonly<Record<string, string>> }>(
  spec: T,
  frontUrl: string,
): T {
  if (!spec.environment) return spec;
  const environment = Object.fromEntries(
    Object.entries(spec.environment).map(([k, v]) => [
      k,
      v.replace(/^https:\/\/[a-z0-9-]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com\/[^/]+/, frontUrl),
    ]),
  );
  return { ...spec, environment };
}

function describeMachine(machines: readonly StateMachineSpec[], arn: string) {
  const m = machines.find((x) => x.arn === arn);
  if (!m) throw new AwsError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
  return {
    stateMachineArn: m.arn,
    name: m.name,
    status: 'ACTIVE',
    definition: JSON.stringify(m.definition),
    roleArn: m.roleArn,
    type: m.type,
    creationDate: 0,
  };
}

function errorText(err: unknown): string {
  return (err as Error)?.stack ?? String(err);
}

function unavailable(what: string): never {
  throw new AwsError('ServiceUnavailable', `${what} is still starting`, 503);
}
