/**
 * The local Lambda engine: each function's bundle runs in its own worker threads, with its own
 * `process.env` (so two functions never see each other's settings), Lambda's reserved variables,
 * a real `context`, the function's timeout, and a small pool of warm workers per function.
 */
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../../shared/worker-threads';

/** One function, with everything already resolved from the template and the assembly. */
export interface LambdaFunctionSpec {
  /** The function's physical name (`FunctionName`). */
  readonly name: string;
  /** The directory holding the bundle (the asset dir in cdk.out): `LAMBDA_TASK_ROOT`. */
  readonly codeDir: string;
  /** `Handler`, e.g. `index.handler` (file `index.js`/`.mjs`/`.cjs`, export `handler`). */
  readonly handler: string;
  /** `Environment.Variables`, resolved. @default {} */
  readonly environment?: Readonly<Record<string, string>>;
  /** `Timeout` in seconds. @default 3 (Lambda's default) */
  readonly timeoutSeconds?: number;
  /** `MemorySize` in MB; also the worker's heap limit. @default 128 */
  readonly memorySizeMb?: number;
  /** `Runtime`, for `AWS_EXECUTION_ENV`. @default 'nodejs20.x' */
  readonly runtime?: string;
  /** Most workers (concurrent invocations) for this function; more callers wait. @default the engine's */
  readonly maxConcurrency?: number;
}

/** Options of {@link LambdaEngine}. */
export interface LambdaEngineOptions {
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
  /**
   * Variables every function gets under its own (e.g. `AWS_ENDPOINT_URL_S3`,
   * `AWS_ENDPOINT_URL_DYNAMODB` pointing at the local engines). @default {}
   */
  readonly platformEnv?: Readonly<Record<string, string>>;
  /** Where log lines go; the default prints them prefixed with `[function name]`. */
  readonly log?: (functionName: string, line: string) => void;
  /** Default {@link LambdaFunctionSpec.maxConcurrency}. @default 2 */
  readonly maxConcurrency?: number;
}

/** Lambda's error payload. */
export interface LambdaErrorPayload {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace?: readonly string[];
}

/** The outcome of one invocation, like Lambda's Invoke response plus the REPORT line. */
export interface InvokeResult {
  readonly requestId: string;
  readonly functionName: string;
  /** The handler's return value (JSON round-tripped), or the {@link LambdaErrorPayload} on error. */
  readonly payload: unknown;
  /** `'Unhandled'` when the invocation failed (as Lambda's `X-Amz-Function-Error`). */
  readonly functionError?: 'Unhandled';
  /** True when the function ran out of time. */
  readonly timedOut?: boolean;
  /** Cold start only: ms from starting the worker to the handler being loaded. */
  readonly initDurationMs?: number;
  readonly durationMs: number;
  /** Log lines of this invocation, START to REPORT. */
  readonly logs: readonly string[];
}

const RUNTIME = fileURLToPath(new URL('./runtime.cjs', import.meta.url));
// Bundles built with the AWS SDK external (NodejsFunction's default on Node 18+) expect the
// runtime to provide it, as Lambda does through NODE_PATH; the kit's own node_modules has it.
const KIT_NODE_MODULES = fileURLToPath(new URL('../../../node_modules', import.meta.url));

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'init-error'; error: LambdaErrorPayload }
  | { type: 'log'; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'result'; ok: boolean; payload: string };

/** One worker and the function instance inside it. */
class Slot {
  busy = false;
  cold = true;
  /** Started ahead of any invocation ({@link LambdaEngine.prewarm}). */
  proactive = false;
  /** The handler has loaded. */
  loaded = false;
  readonly started = performance.now();
  /** Settles once the handler is loaded: undefined, or the init error. */
  readonly ready: Promise<LambdaErrorPayload | undefined>;
  private onLog: ((line: string) => void) | undefined;
  private onResult: ((m: { ok: boolean; payload: string }) => void) | undefined;
  private onExit: ((why: LambdaErrorPayload) => void) | undefined;
  exited = false;

  constructor(
    readonly worker: Worker,
    log: (line: string) => void,
  ) {
    let settleReady!: (v: LambdaErrorPayload | undefined) => void;
    this.ready = new Promise((r) => {
      settleReady = r;
    });
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') {
        this.loaded = true;
        settleReady(undefined);
      } else if (m.type === 'init-error') settleReady(m.error);
      else if (m.type === 'log') {
        log(m.text);
        this.onLog?.(m.text);
      } else if (m.type === 'result') this.onResult?.(m);
    });
    let lastError: Error | undefined;
    worker.on('error', (err) => {
      lastError = err;
    });
    worker.on('exit', (code) => {
      this.exited = true;
      const oom = (lastError as NodeJS.ErrnoException | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      const why: LambdaErrorPayload = oom
        ? { errorType: 'Runtime.OutOfMemory', errorMessage: 'Runtime exited with error: signal: killed' }
        : lastError
          ? {
              errorType: lastError.name,
              errorMessage: lastError.message,
              trace: (lastError.stack ?? '').split('\n'),
            }
          : {
              errorType: 'Runtime.ExitError',
              errorMessage: `Runtime exited with error: exit status ${code}`,
            };
      settleReady(why);
      this.onExit?.(why);
    });
  }

  /** Runs one invocation; resolves with the raw result, or rejects with why the worker died. */
  run(
    event: unknown,
    context: Record<string, unknown>,
    onLog: (line: string) => void,
  ): Promise<{ ok: boolean; payload: string }> {
    return new Promise((resolve, reject) => {
      this.onLog = onLog;
      this.onResult = (m) => {
        this.onResult = this.onExit = this.onLog = undefined;
        resolve(m);
      };
      this.onExit = (why) => {
        this.onResult = this.onExit = this.onLog = undefined;
        reject(why);
      };
      this.worker.postMessage({ type: 'invoke', event, context });
    });
  }
}

interface Pool {
  readonly spec: LambdaFunctionSpec;
  readonly slots: Slot[];
  readonly waiting: (() => void)[];
}

/**
 * Runs Lambda functions locally in worker threads.
 *
 * @example
 * const lambda = new LambdaEngine({ region: 'eu-west-1', platformEnv: { AWS_ENDPOINT_URL_S3: s3.endpoint } });
 * lambda.register({ name: 'predict', codeDir: 'cdk.out/asset.abc123', handler: 'index.handler', timeoutSeconds: 10 });
 * const { payload, functionError } = await lambda.invoke('predict', { features: [7.4, 0.7] });
 * await lambda.close();
 */
export class LambdaEngine {
  private readonly pools = new Map<string, Pool>();
  private readonly region: string;
  private readonly accountId: string;
  private readonly log: (functionName: string, line: string) => void;
  private closed = false;

  constructor(private readonly options: LambdaEngineOptions = {}) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '000000000000';
    this.log = options.log ?? ((fn, line) => process.stdout.write(`[${fn}] ${line}\n`));
  }

  /** Adds a function (replacing one of the same name; its warm workers are stopped). */
  register(spec: LambdaFunctionSpec): void {
    const old = this.pools.get(spec.name);
    if (old) for (const slot of old.slots) void slot.worker.terminate();
    this.pools.set(spec.name, { spec, slots: [], waiting: [] });
  }

  /** Whether a function of this name or ARN is registered. */
  has(nameOrArn: string): boolean {
    return this.pools.has(functionNameOf(nameOrArn));
  }

  /** The ARN Lambda would give the function. */
  arnOf(name: string): string {
    return `arn:aws:lambda:${this.region}:${this.accountId}:function:${name}`;
  }

  /**
   * Invokes a function (by name or ARN) with an event, as a synchronous `RequestResponse` invoke.
   * Errors in the handler, its init and timeouts come back as results with `functionError`, as
   * from Lambda; only an unknown function name throws.
   */
  async invoke(
    nameOrArn: string,
    event: unknown,
    options: { readonly clientContext?: unknown } = {},
  ): Promise<InvokeResult> {
    if (this.closed) throw new Error('The Lambda engine is closed.');
    const name = functionNameOf(nameOrArn);
    const pool = this.pools.get(name);
    if (!pool) {
      throw new Error(
        `Function not found: ${this.arnOf(name)} (the local engine has ${[...this.pools.keys()].join(', ') || 'no functions'}).`,
      );
    }
    const { spec } = pool;
    const timeoutMs = (spec.timeoutSeconds ?? 3) * 1000;
    const memory = spec.memorySizeMb ?? 128;
    const requestId = randomUUID();
    const logs: string[] = [];
    const line = (text: string) => {
      logs.push(text);
      this.log(name, text);
    };

    const slot = await this.acquire(pool);
    const started = performance.now();
    line(`START RequestId: ${requestId} Version: $LATEST`);
    const deadlineMs = Date.now() + timeoutMs;
    const context = {
      functionName: name,
      functionVersion: '$LATEST',
      invokedFunctionArn: nameOrArn.startsWith('arn:') ? nameOrArn : this.arnOf(name),
      memoryLimitInMB: String(memory),
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${name}`,
      logStreamName: logStreamName(),
      clientContext: options.clientContext,
      deadlineMs,
    };

    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    let initDurationMs: number | undefined;
    let initFailed = false;
    let outcome: { payload: unknown; error: boolean; timedOut?: boolean };
    try {
      // A worker started ahead (prewarm) whose handler loaded before this invoke had its init
      // outside any invocation, as Lambda's proactive initialization: no Init Duration. One still
      // loading is waited for, and reports its init as any cold start does.
      if (slot.proactive && slot.loaded) slot.cold = false;
      const wasCold = slot.cold;
      const initError = await Promise.race([slot.ready, timeout]);
      if (wasCold && initError !== 'timeout') {
        initDurationMs = performance.now() - slot.started;
        slot.cold = false;
      }
      if (initError === 'timeout') {
        outcome = { payload: timedOutPayload(requestId, timeoutMs), error: true, timedOut: true };
      } else if (initError) {
        initFailed = true;
        outcome = { payload: initError, error: true };
      } else {
        const result = await Promise.race([
          slot
            .run(event, context, (text) => logs.push(text))
            .catch((why: LambdaErrorPayload) => ({ died: why })),
          timeout,
        ]);
        if (result === 'timeout') {
          outcome = { payload: timedOutPayload(requestId, timeoutMs), error: true, timedOut: true };
        } else if ('died' in result) {
          outcome = { payload: result.died, error: true };
        } else {
          outcome = { payload: JSON.parse(result.payload) as unknown, error: !result.ok };
        }
      }
    } finally {
      clearTimeout(timer);
    }

    // A timed-out, crashed or failed-to-init instance is discarded: the next invoke starts fresh,
    // as Lambda resets the execution environment.
    const discard = outcome.timedOut === true || initFailed || slot.exited;
    if (outcome.timedOut) {
      line(
        `${new Date().toISOString()} ${requestId} Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
      );
    }
    const durationMs = performance.now() - started;
    line(`END RequestId: ${requestId}`);
    line(
      `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.ceil(durationMs)} ms\tMemory Size: ${memory} MB` +
        (initDurationMs !== undefined ? `\tInit Duration: ${initDurationMs.toFixed(2)} ms` : ''),
    );
    this.release(pool, slot, discard);
    return {
      requestId,
      functionName: name,
      payload: outcome.payload,
      ...(outcome.error ? { functionError: 'Unhandled' as const } : {}),
      ...(outcome.timedOut ? { timedOut: true } : {}),
      ...(initDurationMs !== undefined ? { initDurationMs } : {}),
      durationMs,
      logs,
    };
  }

  /**
   * Starts a worker for a function that has none, without invoking it, so that its next invocation
   * finds the handler loaded (Lambda's proactive initialization; the local platform calls this two
   * Lambda Tasks ahead of a state machine's run, see lib/local/sfn/lookahead.ts). Does nothing for
   * an unknown function, or one with a worker already, or once the engine is closed. An init error
   * is not lost: the worker stays until the next invocation, which reports it as a cold start would.
   * Returns, when it started a worker, a promise that settles once the handler has loaded or failed
   * to (the platform does not wait for it; tests do).
   *
   * @example
   * lambda.prewarm('mlops-local-trainingpipeline-stagefunction9f2b1974'); // a promise, then undefined
   */
  prewarm(nameOrArn: string): Promise<void> | undefined {
    if (this.closed) return undefined;
    const pool = this.pools.get(functionNameOf(nameOrArn));
    if (!pool) return undefined;
    this.prune(pool);
    if (pool.slots.length > 0) return undefined;
    const slot = this.spawn(pool.spec);
    slot.proactive = true;
    pool.slots.push(slot);
    return slot.ready.then(() => undefined);
  }

  /** How many workers a function has running (warm or busy). */
  workerCount(name: string): number {
    return this.pools.get(name)?.slots.length ?? 0;
  }

  /** Stops every worker. Invocations in flight fail. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.values()].flatMap((p) => p.slots);
    for (const pool of this.pools.values()) pool.slots.length = 0;
    await Promise.all(all.map((s) => s.worker.terminate()));
  }

  /** Drops idle workers that exited (a prewarmed one can, before any invocation). */
  private prune(pool: Pool): void {
    for (let i = pool.slots.length - 1; i >= 0; i--) {
      const s = pool.slots[i]!;
      // An exit during init is kept: its invocation reports the init error.
      if (!s.busy && s.exited && s.loaded) pool.slots.splice(i, 1);
    }
  }

  private async acquire(pool: Pool): Promise<Slot> {
    for (;;) {
      // After the prune, an idle worker is alive or a prewarmed one that died loading, which is
      // taken too: its invocation reports why.
      this.prune(pool);
      const idle = pool.slots.find((s) => !s.busy);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (pool.slots.length < (pool.spec.maxConcurrency ?? this.options.maxConcurrency ?? 2)) {
        const slot = this.spawn(pool.spec);
        slot.busy = true;
        pool.slots.push(slot);
        return slot;
      }
      await new Promise<void>((resolve) => pool.waiting.push(resolve));
    }
  }

  private release(pool: Pool, slot: Slot, discard: boolean): void {
    slot.busy = false;
    if (discard || slot.exited) {
      const i = pool.slots.indexOf(slot);
      if (i >= 0) pool.slots.splice(i, 1);
      void slot.worker.terminate();
    }
    pool.waiting.shift()?.();
  }

  private spawn(spec: LambdaFunctionSpec): Slot {
    const memory = spec.memorySizeMb ?? 128;
    const credentials = {
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_SESSION_TOKEN: 'local',
    };
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
      LANG: 'en_US.UTF-8',
      ...this.options.platformEnv,
      ...spec.environment,
      // Reserved: Lambda sets these itself and a function cannot override them.
      _HANDLER: spec.handler,
      AWS_REGION: this.region,
      AWS_DEFAULT_REGION: this.region,
      AWS_EXECUTION_ENV: `AWS_Lambda_${spec.runtime ?? 'nodejs20.x'}`,
      AWS_LAMBDA_FUNCTION_NAME: spec.name,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memory),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: logStreamName(),
      LAMBDA_TASK_ROOT: spec.codeDir,
      LAMBDA_RUNTIME_DIR: fileURLToPath(new URL('.', import.meta.url)),
      ...credentials,
    };
    const worker = startWorker(RUNTIME, {
      env,
      name: `lambda:${spec.name}`,
      workerData: { handler: spec.handler, taskRoot: spec.codeDir, nodePath: KIT_NODE_MODULES },
      // The heap stands in for the memory size (Lambda counts the whole process; close enough
      // to catch a function that needs far more than it is given).
      resourceLimits: { maxOldGenerationSizeMb: Math.max(memory, 64) },
      // Inherit no flags from the host (tsx loaders, --inspect) into the function.
      execArgv: [],
    });
    return new Slot(worker, (line) => this.log(spec.name, line));
  }
}

/** `my-fn`, `arn:aws:lambda:r:a:function:my-fn` or `…:my-fn:alias` → `my-fn`. */
export function functionNameOf(nameOrArn: string): string {
  const arn = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)(?::[^:]+)?$/.exec(nameOrArn);
  return arn ? arn[1]! : nameOrArn;
}

function timedOutPayload(requestId: string, timeoutMs: number): LambdaErrorPayload {
  return {
    errorType: 'Sandbox.Timedout',
    errorMessage: `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
  };
}

function logStreamName(): string {
  const d = new Date();
  return `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}/[$LATEST]${randomUUID().replaceAll('-', '')}`;
}
