/**
 * The local Step Functions service: runs the stage's state machines on aws-local-stepfunctions
 * with every Task bound to a local integration, and answers the SFN API the CLI needs
 * (StartExecution, DescribeExecution, ListExecutions, GetExecutionHistory, StopExecution,
 * SendTask*), with executions persisted under `<stateDir>/executions/`.
 *
 * What the runner adds to the library, and why:
 * - Tasks are bound by `Resource` ARN (the library only overrides by state name), and a Task no
 *   integration covers fails {@link LocalStepFunctions.startExecution} before anything runs.
 * - Tasks without `TimeoutSeconds` get {@link NO_TIMEOUT_SECONDS} instead of the library's 60 s.
 * - The context object is complete: Execution (Id, Name, Input, StartTime, RoleArn, RedriveCount),
 *   StateMachine (Id, Name), State (Name, EnteredTime, RetryCount), Task.Token, Map.Item.
 * - History events carry Step Functions' types (TaskScheduled, TaskSucceeded, MapStateStarted, …).
 * - Distributed Map (ItemReader, ItemBatcher, ResultWriter, tolerated failures) runs here, not in
 *   the library, which treats every Map as inline (lib/local/sfn/distributed-map.ts).
 */
import '../../polyfills';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  ExecutionAbortedError,
  ExecutionError,
  ExecutionTimeoutError,
  StateMachine,
} from 'aws-local-stepfunctions';
import {
  type AslDefinition,
  allStates,
  assertRunnable,
  NO_TIMEOUT_SECONDS,
  prepareForLibrary,
  type StateMachineSpec,
} from './definition';
import {
  type ChildExecution,
  type ChildOutcome,
  type DistributedMapSpec,
  EXPRESS_CHILD_TIMEOUT_MS,
  extractDistributedMaps,
  runDistributedMap,
} from './distributed-map';
import { detailsKey, type HistoryEvent, type ProgressEvent, stateEventType, stringify } from './history';
import { type AwsApi, type Integration, type IntegrationRegistry, type Json, TaskFailure } from './integrations';
import { isSameProcessAlive, processStartTime } from '../lock';
import { type ExecutionRecord, type ExecutionStatus, ExecutionStore, type StoreFs } from './store';

export { NO_TIMEOUT_SECONDS };

/** Errors shaped like the SFN SDK's exceptions (`name` is the exception name). */
export class StepFunctionsError extends Error {
  constructor(
    name:
      | 'ExecutionAlreadyExists'
      | 'ExecutionDoesNotExist'
      | 'StateMachineDoesNotExist'
      | 'InvalidName'
      | 'InvalidExecutionInput'
      | 'InvalidToken'
      | 'TaskDoesNotExist'
      | 'InvalidOutput'
      | 'InvalidArn',
    message: string,
  ) {
    super(message);
    this.name = name;
  }
}

/** A Task whose `Resource` no registered integration runs; raised before the execution starts. */
export class MissingIntegrationError extends Error {
  override readonly name = 'MissingIntegrationError';
  constructor(
    readonly stateMachine: string,
    readonly missing: readonly { state: string; resource: string }[],
  ) {
    super(
      missing
        .map(
          (m) =>
            `State machine ${stateMachine}: Task state '${m.state}' has Resource ${m.resource}, which has no local integration`,
        )
        .join('\n') +
        '\nRegister one in the IntegrationRegistry (lambdaIntegrations, athenaIntegrations, …) before starting it.',
    );
  }
}

export interface LocalStepFunctionsOptions {
  readonly stateDir: string;
  readonly machines: readonly StateMachineSpec[];
  readonly integrations: IntegrationRegistry;
  /** Called for every history event of every execution (the CLI prints these live). */
  readonly onEvent?: (event: ProgressEvent) => void;
  /** Lines worth showing a person: executions recovered at start, records that could not be written. */
  readonly log?: (line: string) => void;
  /** The file operations of the execution store. @default node:fs */
  readonly fs?: StoreFs;
  /**
   * S3 (SDK operation names and inputs, e.g. the local S3 behind an `S3Client`) for the
   * ItemReader and ResultWriter of Distributed Map states.
   * @default - none: a machine with a Distributed Map that reads or writes S3 fails validation
   */
  readonly s3?: AwsApi;
}

/**
 * Task attempts by state name, for `$$.State.RetryCount`: `made` of the state's current entry so far
 * (0 on entry, +1 per Task attempt), `succeeded` the count of the attempt that succeeded, for its
 * ResultSelector (evaluated after the Task returns; AWS gives it the same attempt's count), kept
 * until the state exits. One per execution: a Distributed Map's child execution has its own.
 */
class AttemptCounts {
  readonly made = new Map<string, number>();
  readonly succeeded = new Map<string, number>();

  /** An attempt of `state` begins. */
  begin(state: string): void {
    this.made.set(state, (this.made.get(state) ?? 0) + 1);
  }

  /** The attempt under way of `state` succeeded. */
  succeed(state: string): void {
    this.succeeded.set(state, (this.made.get(state) ?? 1) - 1);
    this.made.delete(state);
  }

  retryCount(state: string): number {
    return this.made.get(state) ?? this.succeeded.get(state) ?? 0;
  }
}

/** This process's start time, recorded with each execution (see {@link isSameProcessAlive}). */
const SELF_START = processStartTime(process.pid);

export interface DescribeExecutionOutput {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
  input: string;
  inputDetails: { included: boolean };
  output?: string;
  outputDetails?: { included: boolean };
  error?: string;
  cause?: string;
  redriveCount: number;
  redriveStatus: 'NOT_REDRIVABLE';
}

export interface ExecutionListItem {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  startDate: Date;
  stopDate?: Date;
}

interface Prepared {
  spec: StateMachineSpec;
  library: StateMachine;
  bindings: Map<string, Integration>;
  stateIndex: Map<string, number>;
  /** Distributed Map states by name, with the library's copy of each ItemProcessor. */
  distributed: Map<string, { spec: DistributedMapSpec; processor: StateMachine }>;
}

interface Attempt {
  start: HistoryEvent[];
  end?: HistoryEvent[];
  announced: boolean;
  closed: boolean;
}

/**
 * @example
 * const registry = new IntegrationRegistry().use(lambdaIntegrations(lambdaEngine)).use(athenaIntegrations(athena));
 * const sfn = new LocalStepFunctions({ stateDir, machines: loadStateMachines(stage), integrations: registry });
 * sfn.validate(); // fail fast on Tasks without a local integration
 * const { executionArn } = await sfn.startExecution({ stateMachineArn: 'training', input: '{}' });
 * const result = await sfn.waitForExecution(executionArn);
 */
export class LocalStepFunctions {
  private readonly store: ExecutionStore;
  private readonly prepared = new Map<string, Prepared>();
  private readonly runs = new Map<string, Run>();
  private readonly tokens = new Map<string, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Set<(e: ProgressEvent) => void>();
  /** Executions a stopped platform left RUNNING, recorded ABORTED when this runner started. */
  readonly recovered: readonly ExecutionRecord[];

  constructor(private readonly options: LocalStepFunctionsOptions) {
    this.store = new ExecutionStore(options.stateDir, options.fs);
    if (options.onEvent) this.listeners.add(options.onEvent);
    this.recovered = this.recoverInterrupted();
  }

  /** The state machines this runner knows, by name and ARN. */
  get machines(): readonly StateMachineSpec[] {
    return this.options.machines;
  }

  /** Binds every Task of every machine now; throws the first machine's {@link MissingIntegrationError}. */
  validate(): void {
    for (const m of this.options.machines) this.prepare(m);
  }

  /** Listens to history events of all executions; returns the unsubscribe function. */
  subscribe(listener: (e: ProgressEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Starts an execution. `stateMachineArn` may also be the machine's name. An unnamed execution
   * gets a UUID; a name already used by this machine fails with `ExecutionAlreadyExists` (unless
   * that execution is still running with the same input, which Step Functions treats as a retry).
   */
  async startExecution(input: { stateMachineArn: string; name?: string; input?: string | Json }): Promise<{
    executionArn: string;
    startDate: Date;
  }> {
    const spec = this.machine(input.stateMachineArn);
    const prepared = this.prepare(spec);
    const name = input.name ?? randomUUID();
    if (!validExecutionName(name)) {
      throw new StepFunctionsError('InvalidName', `Invalid Name: '${name}'`);
    }
    const text =
      input.input === undefined
        ? '{}'
        : typeof input.input === 'string'
          ? input.input
          : JSON.stringify(input.input);
    let parsed: Json;
    try {
      parsed = JSON.parse(text) as Json;
    } catch (err) {
      throw new StepFunctionsError(
        'InvalidExecutionInput',
        `Invalid State Machine Execution Input: '${(err as Error).message}'`,
      );
    }
    const executionArn = spec.arn.replace(':stateMachine:', ':execution:') + `:${name}`;
    const existing = this.runs.get(executionArn)?.record ?? this.store.read(spec.name, name);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.input === text && this.runs.has(executionArn)) {
        return { executionArn, startDate: new Date(existing.startDate) };
      }
      throw new StepFunctionsError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }
    const run = new Run(this, prepared, executionArn, name, parsed, text);
    try {
      // Written before anything runs: an execution that cannot be recorded is not started.
      this.persist(run.record);
    } catch (err) {
      throw new Error(`the execution record could not be written: ${(err as Error).message}`, { cause: err });
    }
    this.runs.set(executionArn, run);
    run.start();
    return { executionArn, startDate: new Date(run.record.startDate) };
  }

  /** Resolves with DescribeExecution's answer once the execution has ended. */
  async waitForExecution(executionArn: string): Promise<DescribeExecutionOutput> {
    const run = this.runs.get(executionArn);
    if (run) await run.done;
    return this.describeExecution({ executionArn });
  }

  describeExecution(input: { executionArn: string }): DescribeExecutionOutput {
    const r = this.record(input.executionArn);
    return {
      executionArn: r.executionArn,
      stateMachineArn: r.stateMachineArn,
      name: r.name,
      status: r.status,
      startDate: new Date(r.startDate),
      ...(r.stopDate ? { stopDate: new Date(r.stopDate) } : {}),
      input: r.input,
      inputDetails: { included: true },
      ...(r.output !== undefined ? { output: r.output, outputDetails: { included: true } } : {}),
      ...(r.error !== undefined ? { error: r.error } : {}),
      ...(r.cause !== undefined ? { cause: r.cause } : {}),
      redriveCount: 0,
      redriveStatus: 'NOT_REDRIVABLE',
    };
  }

  /** Newest first, like ListExecutions; reads records of earlier runs from disk too. */
  listExecutions(
    input: {
      stateMachineArn?: string;
      statusFilter?: ExecutionStatus;
      maxResults?: number;
      nextToken?: string;
    } = {},
  ): { executions: ExecutionListItem[]; nextToken?: string } {
    const machine = input.stateMachineArn ? this.machine(input.stateMachineArn).name : undefined;
    const byArn = new Map<string, ExecutionRecord>();
    for (const r of this.store.list(machine)) byArn.set(r.executionArn, this.liveness(r));
    for (const run of this.runs.values()) {
      if (!machine || run.record.stateMachineName === machine) byArn.set(run.record.executionArn, run.record);
    }
    const all = [...byArn.values()]
      .filter((r) => !input.statusFilter || r.status === input.statusFilter)
      .sort((a, b) => b.startDate.localeCompare(a.startDate) || b.name.localeCompare(a.name))
      .map((r) => ({
        executionArn: r.executionArn,
        stateMachineArn: r.stateMachineArn,
        name: r.name,
        status: r.status,
        startDate: new Date(r.startDate),
        ...(r.stopDate ? { stopDate: new Date(r.stopDate) } : {}),
      }));
    return page(all, input.maxResults ?? 100, input.nextToken, (items, nextToken) => ({
      executions: items,
      ...(nextToken ? { nextToken } : {}),
    }));
  }

  getExecutionHistory(input: {
    executionArn: string;
    reverseOrder?: boolean;
    maxResults?: number;
    nextToken?: string;
  }): { events: HistoryEvent[]; nextToken?: string } {
    const events = [...this.record(input.executionArn).events];
    if (input.reverseOrder) events.reverse();
    return page(events, input.maxResults ?? 1000, input.nextToken, (items, nextToken) => ({
      events: structuredClone(items),
      ...(nextToken ? { nextToken } : {}),
    }));
  }

  /**
   * Live history of one execution: the events so far, then each new one, until it ends.
   *
   * @example
   * for await (const e of sfn.watch(executionArn)) console.log(e.timestamp, e.type);
   */
  async *watch(executionArn: string): AsyncGenerator<HistoryEvent> {
    const run = this.runs.get(executionArn);
    if (!run) {
      yield* this.record(executionArn).events;
      return;
    }
    let i = 0;
    while (true) {
      while (i < run.record.events.length) yield run.record.events[i++]!;
      if (run.finished) return;
      await run.nextEvent();
    }
  }

  /** Stops a running execution: status ABORTED, with the given error and cause. */
  async stopExecution(input: {
    executionArn: string;
    error?: string;
    cause?: string;
  }): Promise<{ stopDate: Date }> {
    const run = this.runs.get(input.executionArn);
    if (!run) {
      const r = this.record(input.executionArn);
      return { stopDate: new Date(r.stopDate ?? Date.now()) };
    }
    run.stop(input.error, input.cause);
    await run.done;
    return { stopDate: new Date(run.record.stopDate!) };
  }

  /**
   * Lets go of the running executions as a stop of the platform does: their work is aborted (and
   * its timers, which would keep the process alive for days on a release waiting for approval)
   * but nothing is recorded, so their records stay RUNNING on disk and the next start recovers
   * them ABORTED, as after a kill.
   */
  async detach(): Promise<void> {
    const running = [...this.runs.values()].filter((r) => !r.finished);
    for (const run of running) run.detach();
    await Promise.all(running.map((r) => r.done));
  }

  /** Completes a `.waitForTaskToken` Task with `output` (JSON text). */
  sendTaskSuccess(input: { taskToken: string; output: string }): void {
    const task = this.token(input.taskToken);
    let output: Json;
    try {
      if (typeof input.output !== 'string') throw new Error(`output must be a JSON text, but ${typeof input.output} was provided`);
      output = JSON.parse(input.output) as Json;
    } catch (err) {
      throw new StepFunctionsError('InvalidOutput', `Invalid Output: ${(err as Error).message}`);
    }
    task.resolve(output);
  }

  /** Fails a `.waitForTaskToken` Task; `error` is what Retry/Catch match. */
  sendTaskFailure(input: { taskToken: string; error?: string; cause?: string }): void {
    this.token(input.taskToken).reject(new TaskFailure(String(input.error ?? ''), String(input.cause ?? '')));
  }

  /** Accepted for API compatibility; heartbeats are not enforced locally. */
  sendTaskHeartbeat(input: { taskToken: string }): void {
    this.token(input.taskToken);
  }

  // --- internals used by Run -------------------------------------------------------------

  /** @internal */
  emit(executionArn: string, event: HistoryEvent): void {
    for (const l of this.listeners) {
      try {
        l({ executionArn, event });
      } catch {
        // A failing listener (e.g. a closed terminal) must not break the execution.
      }
    }
  }

  /** @internal Throws what the store throws (ENOSPC, EIO). */
  persist(record: ExecutionRecord): void {
    this.store.write(record);
  }

  /** @internal */
  recordFile(record: ExecutionRecord): string {
    return this.store.file(record.stateMachineName, record.name);
  }

  /** @internal */
  log(line: string): void {
    this.options.log?.(line);
  }

  /** @internal */
  get s3(): AwsApi | undefined {
    return this.options.s3;
  }

  /**
   * RUNNING records of a process that is gone (killed, crashed, powered off) become ABORTED, with
   * the history they had and the time of their last event as the stop date: the platform is the
   * only thing that could have finished them, and it is starting anew.
   */
  private recoverInterrupted(): ExecutionRecord[] {
    const out: ExecutionRecord[] = [];
    for (const r of this.store.list()) {
      if (r.status !== 'RUNNING' || r.pid === process.pid || isSameProcessAlive(r.pid, r.processStart)) continue;
      const stopDate = r.events.at(-1)?.timestamp ?? r.startDate;
      const error = 'States.Runtime';
      const cause = `The local platform stopped (process ${r.pid} exited or was killed) while this execution was running`;
      r.events.push({
        id: r.events.length + 1,
        previousEventId: r.events.length,
        timestamp: stopDate,
        type: 'ExecutionAborted',
        executionAbortedEventDetails: { error, cause },
      });
      Object.assign(r, { status: 'ABORTED', stopDate, error, cause });
      try {
        this.store.write(r);
      } catch (err) {
        this.log(`[sfn] execution ${r.name} could not be recorded ABORTED: ${(err as Error).message}`);
      }
      this.log(`[sfn] execution ${r.name} was cut off by a stop of the platform: recorded ABORTED`);
      out.push(r);
    }
    return out;
  }

  /** @internal */
  waitForToken(token: string, signal: AbortSignal): Promise<Json> {
    const { promise, resolve, reject } = Promise.withResolvers<Json>();
    const cleanup = () => this.tokens.delete(token);
    this.tokens.set(token, {
      resolve: (v) => {
        cleanup();
        resolve(v);
      },
      reject: (e) => {
        cleanup();
        reject(e);
      },
    });
    signal.addEventListener('abort', () => {
      cleanup();
      reject(new TaskFailure('States.Runtime', 'execution stopped'));
    });
    return promise;
  }

  private token(token: string) {
    if (typeof token !== 'string' || token.length === 0 || token.length > 2048) {
      throw new StepFunctionsError('InvalidToken', 'taskToken must be a task token of 1 to 2048 characters');
    }
    const t = this.tokens.get(token);
    if (!t)
      throw new StepFunctionsError(
        'TaskDoesNotExist',
        `Task Token does not exist or has already completed: ${token.slice(0, 16)}…`,
      );
    return t;
  }

  private record(executionArn: string): ExecutionRecord {
    const run = this.runs.get(executionArn);
    if (run) return run.record;
    const m = /:execution:([^:]+):([^:]+)$/.exec(executionArn);
    if (!m) throw new StepFunctionsError('InvalidArn', `Invalid Arn: '${executionArn}'`);
    const r = this.store.read(m[1]!, m[2]!);
    if (!r)
      throw new StepFunctionsError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return this.liveness(r);
  }

  /** A RUNNING record whose process is gone was cut off: report it ABORTED. */
  private liveness(r: ExecutionRecord): ExecutionRecord {
    if (r.status !== 'RUNNING' || this.runs.has(r.executionArn)) return r;
    if (r.pid !== process.pid && isSameProcessAlive(r.pid, r.processStart)) return r;
    return {
      ...r,
      status: 'ABORTED',
      error: 'States.Runtime',
      cause: 'The local runner that ran this execution stopped before it finished',
    };
  }

  private machine(arnOrName: string): StateMachineSpec {
    const m = this.options.machines.find((x) => x.arn === arnOrName || x.name === arnOrName);
    if (!m) {
      throw new StepFunctionsError(
        'StateMachineDoesNotExist',
        `State Machine Does Not Exist: '${arnOrName}' (known: ${this.options.machines.map((x) => x.name).join(', ') || 'none'})`,
      );
    }
    return m;
  }

  private prepare(spec: StateMachineSpec): Prepared {
    const cached = this.prepared.get(spec.arn);
    if (cached) return cached;
    assertRunnable(spec.definition, `state machine ${spec.name}`);
    const states = allStates(spec.definition);
    const bindings = new Map<string, Integration>();
    const missing: { state: string; resource: string }[] = [];
    for (const [name, state] of states) {
      if (state.Type !== 'Task') continue;
      const resource = String(state['Resource']);
      const integration = this.options.integrations.find(resource);
      if (integration) bindings.set(name, integration);
      else missing.push({ state: name, resource });
    }
    const stateIndex = new Map(states.map(([name], i) => [name, i]));
    const forLibrary = prepareForLibrary(spec.definition, stateIndex);
    const distributed = new Map<string, { spec: DistributedMapSpec; processor: StateMachine }>();
    for (const [name, d] of extractDistributedMaps(forLibrary)) {
      for (const key of ['ItemReader', 'ResultWriter']) {
        const resource = (d.state[key] as { Resource?: unknown } | undefined)?.Resource;
        if (resource !== undefined && !this.options.s3)
          missing.push({ state: name, resource: `${String(resource)} (its ${key}: give the runner the s3 option)` });
      }
      distributed.set(name, {
        spec: d,
        processor: new StateMachine(d.processor as never, { validationOptions: { noValidate: true } }),
      });
    }
    if (missing.length > 0) throw new MissingIntegrationError(spec.name, missing);
    const library = new StateMachine(forLibrary as never, {
      // Validated above on the author's definition; the prepared copy uses runner-private paths.
      validationOptions: { noValidate: true },
    });
    const p = { spec, library, bindings, stateIndex, distributed };
    this.prepared.set(spec.arn, p);
    return p;
  }
}

/** One execution: the library run, its context object, history and record. */
class Run {
  readonly record: ExecutionRecord;
  readonly done: Promise<void>;
  finished = false;
  private resolveDone!: () => void;
  private readonly abortController = new AbortController();
  private abortLibrary: (() => void) | undefined;
  private stopReason: { error?: string; cause?: string } | undefined;
  private pendingToken: string | undefined;
  private readonly attempts = new Map<string, Attempt[]>();
  /** This execution's Task attempts, for `$$.State.RetryCount`. */
  private readonly counts = new AttemptCounts();
  private readonly enteredAt = new Map<string, string>();
  /** MapRun* events of Distributed Map states, pushed when the library reports the state's end. */
  private readonly mapRunEvents = new Map<string, HistoryEvent[]>();
  private waiters: (() => void)[] = [];
  private persistTimer: NodeJS.Timeout | undefined;
  /** A write of the record failed: the execution fails with this as its cause. */
  private ioFailure: Error | undefined;

  constructor(
    private readonly service: LocalStepFunctions,
    private readonly machine: Prepared,
    executionArn: string,
    name: string,
    private readonly input: Json,
    inputText: string,
  ) {
    this.record = {
      executionArn,
      stateMachineArn: machine.spec.arn,
      stateMachineName: machine.spec.name,
      name,
      status: 'RUNNING',
      startDate: new Date().toISOString(),
      input: inputText,
      events: [],
      pid: process.pid,
      ...(SELF_START ? { processStart: SELF_START } : {}),
    };
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
  }

  start(): void {
    const execution = this.machine.library.run(this.input as never, {
      overrides: { taskResourceLocalHandlers: this.handlers() as never },
      context: this.context() as never,
    });
    this.abortLibrary = execution.abort;
    const consumed = (async () => {
      for await (const ev of execution.eventLogs) this.onLibraryEvent(ev as unknown as LibraryEvent);
    })();
    void execution.result.then(
      (output) => this.finish('SUCCEEDED', { output: stringify(output) }, consumed),
      (err: unknown) => {
        if (err instanceof ExecutionAbortedError && this.ioFailure) {
          this.finish('FAILED', this.ioFailureResult(), consumed);
        } else if (err instanceof ExecutionAbortedError) {
          this.finish('ABORTED', { error: this.stopReason?.error, cause: this.stopReason?.cause }, consumed);
        } else if (err instanceof ExecutionTimeoutError) {
          this.finish(
            'TIMED_OUT',
            { error: 'States.Timeout', cause: 'The execution timed out (state machine TimeoutSeconds)' },
            consumed,
          );
        } else {
          const inner = (err instanceof ExecutionError ? err.cause : err) as Error;
          this.finish(
            'FAILED',
            { error: inner?.name ?? 'States.Runtime', cause: inner?.message ?? String(err) },
            consumed,
          );
        }
      },
    );
  }

  stop(error?: string, cause?: string): void {
    if (this.finished) return;
    this.stopReason = { error, cause };
    this.abortController.abort();
    this.abortLibrary?.();
  }

  /** Aborts the run without recording its end (see `LocalStepFunctions.detach`). */
  detach(): void {
    if (this.finished) return;
    this.detached = true;
    this.abortController.abort();
    this.abortLibrary?.();
  }
  private detached = false;

  nextEvent(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  private async finish(
    status: ExecutionStatus,
    result: { output?: string; error?: string; cause?: string },
    consumed: Promise<void>,
  ): Promise<void> {
    // The event stream closes right after the library's last event; wait for it so the history is whole.
    await consumed.catch(() => undefined);
    if (this.detached) {
      clearTimeout(this.persistTimer);
      this.finished = true;
      this.wake();
      this.resolveDone();
      return;
    }
    if (status === 'ABORTED' && !this.record.events.some((e) => e.type === 'ExecutionAborted')) {
      this.push('ExecutionAborted', { error: result.error, cause: result.cause });
    }
    if (status === 'FAILED' && !this.record.events.some((e) => e.type === 'ExecutionFailed')) {
      this.push('ExecutionFailed', { error: result.error, cause: result.cause });
    }
    Object.assign(this.record, { status, stopDate: new Date().toISOString() });
    for (const [k, v] of Object.entries(result))
      if (v !== undefined) (this.record as unknown as Record<string, unknown>)[k] = v;
    this.finished = true;
    clearTimeout(this.persistTimer);
    try {
      this.service.persist(this.record);
    } catch (err) {
      // The answer stays in memory for this process; after a restart the record on disk is recovered.
      this.service.log(
        `[sfn] execution ${this.record.name} ended ${status} but its record could not be written: ${(err as Error).message}`,
      );
    }
    this.abortController.abort();
    this.wake();
    this.resolveDone();
  }

  /** Writes the record now; a failed write fails the execution instead of the process. */
  private save(): void {
    if (this.finished || this.detached) return;
    try {
      this.service.persist(this.record);
    } catch (err) {
      if (this.ioFailure) return;
      this.ioFailure = err as Error;
      this.abortController.abort();
      this.abortLibrary?.();
    }
  }

  private ioFailureResult() {
    return {
      error: 'States.Runtime',
      cause: `The execution record could not be written to ${this.service.recordFile(this.record)}: ${this.ioFailure!.message}`,
    };
  }

  /**
   * The context object: what AWS provides, behind the paths prepareForLibrary redirected. A
   * Distributed Map's child execution gets its own `Execution`.
   */
  private context(
    child?: { Id: string; Name: string; Input: Json; StartTime: string },
    counts: AttemptCounts = this.counts,
  ): Record<string, unknown> {
    const r = this.record;
    const execution = {
      Id: child?.Id ?? r.executionArn,
      Name: child?.Name ?? r.name,
      Input: child ? child.Input : this.input,
      StartTime: child?.StartTime ?? r.startDate,
      RoleArn: this.machine.spec.roleArn,
      RedriveCount: 0,
    };
    const slots: Record<string, unknown> = {};
    for (const [name, i] of this.machine.stateIndex) {
      const run = this;
      slots[`s${i}`] = {
        Name: name,
        // Read while the library evaluates the state's paths, i.e. the moment it is entered.
        get EnteredTime() {
          if (!counts.made.get(name) || !run.enteredAt.has(name))
            run.enteredAt.set(name, new Date().toISOString());
          return run.enteredAt.get(name);
        },
        get RetryCount() {
          return counts.retryCount(name);
        },
      };
    }
    const run = this;
    return {
      Execution: { Id: execution.Id, Name: execution.Name, RoleArn: execution.RoleArn, RedriveCount: 0 },
      __Execution: execution,
      StateMachine: { Id: this.machine.spec.arn, Name: this.machine.spec.name },
      __State: slots,
      Task: {
        // The library evaluates Parameters and calls the Task handler in one synchronous stretch,
        // so the token minted here is the one the handler picks up next.
        get Token() {
          const token = randomBytes(48).toString('base64url');
          run.pendingToken = token;
          return token;
        },
      },
    };
  }

  /**
   * Task handlers by state name. A Distributed Map's child executions have histories of their own
   * on AWS, not the parent's: their Tasks are not recorded (`record` false).
   */
  private handlers(record = true, counts: AttemptCounts = this.counts): Record<string, (input: unknown) => Promise<unknown>> {
    const out: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const [stateName, integration] of this.machine.bindings) {
      out[stateName] = (input) => this.runTask(stateName, integration, input as Json, record, counts);
    }
    for (const stateName of this.machine.distributed.keys()) {
      out[stateName] = (input) => this.runMapRun(stateName, input as Json);
    }
    return out;
  }

  private async runTask(
    stateName: string,
    integration: Integration,
    parameters: Json,
    record = true,
    counts: AttemptCounts = this.counts,
  ): Promise<Json> {
    const token = integration.waitForToken ? this.pendingToken : undefined;
    this.pendingToken = undefined;
    const resource = String(
      allStates(this.machine.spec.definition).find(([n]) => n === stateName)![1]['Resource'],
    );
    if (!record) {
      // A child execution's attempts, counted for its own $$.State.RetryCount.
      counts.begin(stateName);
      const output = await this.callIntegration(stateName, integration, parameters, resource, token);
      counts.succeed(stateName);
      return output;
    }
    const lambdaFn = integration.resourceType === 'lambda' && integration.label === 'lambda';
    const prefix = lambdaFn ? 'LambdaFunction' : 'Task';
    const base = { resourceType: integration.resourceType, resource: integration.resourceName };
    const attempt: Attempt = {
      start: [
        this.event(
          `${prefix}Scheduled`,
          lambdaFn
            ? { resource, input: stringify(parameters) }
            : { ...base, region: regionOf(this.record.executionArn), parameters: stringify(parameters) },
        ),
        this.event(`${prefix}Started`, lambdaFn ? {} : base),
      ],
      announced: false,
      closed: false,
    };
    this.queue(stateName).push(attempt);
    this.counts.begin(stateName);
    try {
      const output = await this.callIntegration(stateName, integration, parameters, resource, token);
      attempt.end = [
        this.event(
          `${prefix}Succeeded`,
          lambdaFn ? { output: stringify(output) } : { ...base, output: stringify(output) },
        ),
      ];
      this.counts.succeed(stateName);
      return output;
    } catch (err) {
      const failure =
        err instanceof TaskFailure
          ? err
          : new TaskFailure((err as Error)?.name || 'Error', (err as Error)?.message ?? String(err));
      attempt.end = [
        this.event(`${prefix}Failed`, {
          ...(lambdaFn ? {} : base),
          error: failure.name,
          cause: failure.message,
        }),
      ];
      throw failure;
    }
  }

  private async callIntegration(
    stateName: string,
    integration: Integration,
    parameters: Json,
    resource: string,
    token: string | undefined,
  ): Promise<Json> {
    const output = await integration.handler(parameters, {
      stateName,
      stateMachineName: this.machine.spec.name,
      executionArn: this.record.executionArn,
      resource,
      signal: this.abortController.signal,
      ...(token ? { taskToken: token } : {}),
    });
    if (!integration.waitForToken) return output;
    if (!token)
      throw new TaskFailure(
        'States.Runtime',
        `state ${stateName} waits for a task token but its Parameters never read $$.Task.Token`,
      );
    return this.service.waitForToken(token, this.abortController.signal);
  }

  /**
   * One Map Run of a Distributed Map state. Its MapRunStarted/Succeeded/Failed events wait in
   * {@link mapRunEvents} until the library reports the state's end (so they sit between the
   * state's Entered and Exited events, whatever order the event stream is read in).
   */
  private async runMapRun(stateName: string, input: Json): Promise<Json> {
    const { spec, processor } = this.machine.distributed.get(stateName)!;
    const started = this.event('MapRunStarted', {});
    const events = this.mapRunEvents.get(stateName) ?? [];
    this.mapRunEvents.set(stateName, events);
    const context = this.context();
    const templates = new WeakMap<object, StateMachine>();
    try {
      const result = await runDistributedMap(spec, input, {
        stateMachineArn: this.machine.spec.arn,
        executionArn: this.record.executionArn,
        s3: this.service.s3,
        signal: this.abortController.signal,
        onStart: (mapRunArn) => Object.assign(started, { [detailsKey('MapRunStarted')]: { mapRunArn } }),
        evaluate: async (template, stateInput, item) => {
          // The library's own Pass state evaluates the template: paths, intrinsic functions and
          // the context object behave exactly as in the rest of the machine.
          const key = (template && typeof template === 'object' ? template : { value: template }) as object;
          let pass = templates.get(key);
          if (!pass) {
            pass = new StateMachine(
              { StartAt: 'T', States: { T: { Type: 'Pass', Parameters: key, End: true } } } as never,
              { validationOptions: { noValidate: true } },
            );
            templates.set(key, pass);
          }
          const ctx = item ? { ...context, Map: { Item: item } } : context;
          return (await pass.run(stateInput as never, { context: ctx as never }).result) as Json;
        },
        runChild: (child) => this.runChild(processor, spec, child),
      });
      events.push(started, this.event('MapRunSucceeded', {}));
      return result.output;
    } catch (err) {
      const e = err as Error;
      events.push(started, this.event('MapRunFailed', { error: e.name, cause: e.message }));
      throw err instanceof TaskFailure ? err : new TaskFailure('States.Runtime', e.message);
    }
  }

  /** A child execution of a Distributed Map: its own context, not recorded in this history. */
  private async runChild(processor: StateMachine, spec: DistributedMapSpec, child: ChildExecution): Promise<ChildOutcome> {
    const counts = new AttemptCounts();
    const execution = processor.run(child.input as never, {
      overrides: { taskResourceLocalHandlers: this.handlers(false, counts) as never },
      context: this.context(
        {
          Id: child.executionArn,
          Name: child.name,
          Input: child.input,
          StartTime: new Date().toISOString(),
        },
        counts,
      ) as never,
    });
    let timedOut = false;
    const abort = () => execution.abort();
    child.signal.addEventListener('abort', abort);
    const timer =
      spec.executionType === 'EXPRESS'
        ? setTimeout(() => {
            timedOut = true;
            execution.abort();
          }, EXPRESS_CHILD_TIMEOUT_MS)
        : undefined;
    // The child's events are not read; draining them lets the library let go of them.
    void (async () => {
      for await (const _ of execution.eventLogs) void _;
    })().catch(() => undefined);
    try {
      return { status: 'SUCCEEDED', output: (await execution.result) as Json };
    } catch (err) {
      if (timedOut || err instanceof ExecutionTimeoutError) {
        return { status: 'TIMED_OUT', error: 'States.Timeout', cause: 'The child execution timed out' };
      }
      if (err instanceof ExecutionAbortedError) return { status: 'ABORTED' };
      const inner = (err instanceof ExecutionError ? err.cause : err) as Error;
      return { status: 'FAILED', error: inner?.name ?? 'States.Runtime', cause: inner?.message ?? String(err) };
    } finally {
      clearTimeout(timer);
      child.signal.removeEventListener('abort', abort);
    }
  }

  private queue(stateName: string): Attempt[] {
    const q = this.attempts.get(stateName) ?? [];
    this.attempts.set(stateName, q);
    return q;
  }

  /** An event not yet numbered (numbers are given when it enters the history). */
  private event(type: string, details: Record<string, unknown>): HistoryEvent {
    return {
      id: 0,
      previousEventId: 0,
      timestamp: new Date().toISOString(),
      type,
      [detailsKey(type)]: details,
    };
  }

  private push(type: string, details: Record<string, unknown>, prepared?: HistoryEvent): void {
    const ev = prepared ?? this.event(type, details);
    const events = this.record.events;
    ev.id = events.length + 1;
    ev.previousEventId = events.length;
    events.push(ev);
    this.service.emit(this.record.executionArn, ev);
    this.wake();
    // A state entered and a Task scheduled are written at once: a platform killed during a long
    // Task leaves a history that reaches that Task, with its input.
    if (ev.type.endsWith('StateEntered') || ev.type.endsWith('Scheduled')) {
      clearTimeout(this.persistTimer);
      this.persistTimer = undefined;
      this.save();
    } else this.schedulePersist();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private schedulePersist(): void {
    if (this.persistTimer || this.finished) return;
    // Progress is written at most every 250 ms, so `mlops executions` in another shell sees it.
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      this.save();
    }, 250);
    this.persistTimer.unref();
  }

  private announce(stateName: string): void {
    const a = this.attempts.get(stateName)?.find((x) => !x.announced);
    if (!a) return;
    a.announced = true;
    for (const e of a.start) this.push(e.type, {}, e);
  }

  private close(stateName: string, error?: { Error: string; Cause: unknown }): void {
    const q = this.attempts.get(stateName);
    const a = q?.find((x) => x.announced && !x.closed);
    if (!a || !q) return;
    a.closed = true;
    q.splice(q.indexOf(a), 1);
    if (a.end) for (const e of a.end) this.push(e.type, {}, e);
    else if (error?.Error === 'States.Timeout') {
      this.push('TaskTimedOut', {
        resourceType: 'unknown',
        error: 'States.Timeout',
        cause: stringCause(error.Cause),
      });
    }
  }

  private onLibraryEvent(ev: LibraryEvent): void {
    switch (ev.type) {
      case 'ExecutionStarted':
        this.push('ExecutionStarted', {
          input: stringify(ev.input),
          inputDetails: { truncated: false },
          roleArn: this.machine.spec.roleArn,
          stateMachineArn: this.machine.spec.arn,
        });
        return;
      case 'StateEntered': {
        const s = this.libraryState(ev.state!);
        this.push(stateEventType(s.type, 'Entered'), {
          name: s.name,
          input: stringify(s.input),
          inputDetails: { truncated: false },
        });
        if (s.type === 'Task') this.announce(s.name);
        if (s.type === 'Map') this.push('MapStateStarted', { length: this.mapLength(s.name, s.input) });
        if (s.type === 'Parallel') this.push('ParallelStateStarted', {});
        return;
      }
      case 'StateRetried':
        this.flushMapRuns(ev.state!.name);
        // The retry's Task handler has already been called; show its Scheduled/Started now.
        this.announce(ev.state!.name);
        return;
      case 'StateFailed': {
        const s = this.libraryState(ev.state!);
        this.flushMapRuns(s.name);
        if (s.type === 'Task') this.close(s.name, { Error: ev.Error!, Cause: ev.Cause });
        if (s.type === 'Map') this.push('MapStateFailed', {});
        if (s.type === 'Parallel') this.push('ParallelStateFailed', {});
        return;
      }
      case 'StateCaught':
        this.counts.made.delete(ev.state!.name);
        return;
      case 'StateExited': {
        const s = this.libraryState(ev.state!);
        this.counts.succeeded.delete(s.name);
        this.flushMapRuns(s.name);
        if (s.type === 'Task') this.close(s.name);
        if (s.type === 'Map') this.push('MapStateSucceeded', {});
        if (s.type === 'Parallel') this.push('ParallelStateSucceeded', {});
        this.push(stateEventType(s.type, 'Exited'), {
          name: s.name,
          output: stringify(s.output),
          outputDetails: { truncated: false },
        });
        return;
      }
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed':
        this.push(ev.type, {
          name: ev.parentState!.name,
          index: ev.index,
          ...(ev.type === 'MapIterationFailed' ? { error: ev.Error, cause: stringCause(ev.Cause) } : {}),
        });
        return;
      case 'ExecutionSucceeded':
        this.push('ExecutionSucceeded', {
          output: stringify(ev.output),
          outputDetails: { truncated: false },
        });
        return;
      case 'ExecutionFailed':
        this.push('ExecutionFailed', { error: ev.Error, cause: stringCause(ev.Cause) });
        return;
      case 'ExecutionAborted':
        if (this.ioFailure) this.push('ExecutionFailed', this.ioFailureResult());
        else this.push('ExecutionAborted', { error: this.stopReason?.error, cause: this.stopReason?.cause });
        return;
      case 'ExecutionTimeout':
        this.push('ExecutionTimedOut', { error: 'States.Timeout' });
        return;
      default:
        return; // ParallelBranch* have no Step Functions counterpart
    }
  }

  /**
   * The state as the author wrote it: a Distributed Map the library runs as a stand-in Task is a
   * Map in the history, without the inline Map's MapStateStarted/Succeeded (its Map Run has events
   * of its own).
   */
  private libraryState<S extends { name: string; type: string }>(s: S): S {
    return this.machine.distributed.has(s.name) ? { ...s, type: 'DistributedMap' } : s;
  }

  private flushMapRuns(stateName: string): void {
    const events = this.mapRunEvents.get(stateName);
    if (!events) return;
    for (const e of events.splice(0)) this.push(e.type, {}, e);
  }

  /** MapStateStarted's `length`, for the usual `$`/`$.a.b` ItemsPath; -1 when not simple. */
  private mapLength(stateName: string, input: unknown): number {
    const state = allStates(this.machine.spec.definition).find(([n]) => n === stateName)?.[1];
    const path = String(state?.['ItemsPath'] ?? '$');
    if (!/^\$(\.[A-Za-z_][\w-]*)*$/.test(path)) return -1;
    let cur: unknown = input;
    for (const k of path.split('.').slice(1)) cur = (cur as Record<string, unknown> | undefined)?.[k];
    return Array.isArray(cur) ? cur.length : -1;
  }
}

interface LibraryEvent {
  type: string;
  timestamp: number;
  input?: unknown;
  output?: unknown;
  Error?: string;
  Cause?: unknown;
  index?: number;
  state?: { name: string; type: string; input: unknown; output?: unknown };
  parentState?: { name: string; type: string };
}

const stringCause = (c: unknown) =>
  typeof c === 'string' ? c : c instanceof Error ? c.message : JSON.stringify(c ?? '');

const regionOf = (arn: string) => arn.split(':')[3] ?? '';

/** Step Functions' rule: 1-80 characters, no whitespace, brackets, wildcards, specials or controls. */
function validExecutionName(name: string): boolean {
  if (name.length < 1 || name.length > 80) return false;
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) return false;
    if (/[\s<>{}[\]?*"#%\\^|~`$&,;:/]/.test(ch)) return false;
  }
  return true;
}

function page<T, R>(
  items: T[],
  max: number,
  token: string | undefined,
  build: (items: T[], next?: string) => R,
): R {
  if (token !== undefined && token !== null && typeof token !== 'string')
    throw new StepFunctionsError('InvalidToken', `nextToken must be a string, but ${JSON.stringify(token)} was provided`);
  const start = token ? Number(Buffer.from(token, 'base64url').toString('utf8')) : 0;
  if (!Number.isInteger(start) || start < 0)
    throw new StepFunctionsError('InvalidToken', `Invalid nextToken: ${token}`);
  const slice = items.slice(start, start + max);
  const next =
    start + max < items.length ? Buffer.from(String(start + max)).toString('base64url') : undefined;
  return build(slice, next);
}

export type { AslDefinition };
