/**
 * Runner behaviour on small hand-written JSONPath definitions: timeouts, the context object,
 * concurrency, duplicate names, persistence and the JSONata guard.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { layout } from '../../../lib/local/layout';
import {
  assertRunnable,
  IntegrationRegistry,
  type LambdaInvoker,
  LocalStepFunctions,
  lambdaIntegrations,
  NO_TIMEOUT_SECONDS,
  prepareForLibrary,
  type StateMachineSpec,
} from '../../../lib/local/sfn';
import { ARN, FN, machine, sleep, standInLambdas, WORK_TASK } from './helpers';

const oneTask = (name: string, task: Record<string, unknown>): StateMachineSpec =>
  machine(name, {
    StartAt: 'Work',
    States: {
      Work: { ...WORK_TASK, ...task },
    },
  });

const runner = (
  machines: StateMachineSpec[],
  invoker: LambdaInvoker,
  stateDir = mkdtempSync(join(tmpdir(), 'mlops-sfn-')),
) =>
  new LocalStepFunctions({
    stateDir,
    machines,
    integrations: new IntegrationRegistry().use(lambdaIntegrations(invoker)),
  });

describe('Task timeouts', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hands the library AWS’s behaviour for Tasks without TimeoutSeconds, not its 60 s default', () => {
    const def = oneTask('t', {}).definition;
    const prepared = prepareForLibrary(def, new Map([['Work', 0]]));
    expect(prepared.States['Work']?.['TimeoutSeconds']).toBe(NO_TIMEOUT_SECONDS);
    expect(NO_TIMEOUT_SECONDS).toBeGreaterThan(24 * 3600);
    // The author's definition is left as written.
    expect(def.States['Work']?.['TimeoutSeconds']).toBeUndefined();
  });

  it('replaces the state with the result for ResultPath "$", as AWS does (the library nests it under a "$" key)', async () => {
    const sfn = runner(
      [oneTask('whole', { ResultPath: '$', OutputPath: undefined, ResultSelector: { 'r.$': '$.Payload' } })],
      standInLambdas({ work: () => ({ done: true }) }),
    );
    const { executionArn } = await sfn.startExecution({ stateMachineArn: 'whole', input: '{"kept":false}' });
    const d = await sfn.waitForExecution(executionArn);
    expect(d.status, d.cause).toBe('SUCCEEDED');
    expect(JSON.parse(d.output!)).toEqual({ r: { done: true } });
  });

  it('lets a Task without TimeoutSeconds run past 60 s', async () => {
    vi.useFakeTimers();
    const sfn = runner(
      [oneTask('slow', {})],
      standInLambdas({ work: () => sleep(90_000).then(() => ({ done: true })) }),
    );
    const { executionArn } = await sfn.startExecution({ stateMachineArn: 'slow', input: {} });
    // Against the library's default this would fail with States.Timeout at 60 s.
    await vi.advanceTimersByTimeAsync(91_000);
    const result = await sfn.waitForExecution(executionArn);
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(JSON.parse(result.output!)).toEqual({ done: true });
  });

  it('times out a Task with TimeoutSeconds 1 that takes 2 s with States.Timeout', async () => {
    let finished = false;
    const work = () => sleep(2000).then(() => (finished = true));
    const sfn = runner([oneTask('strict', { TimeoutSeconds: 1 })], standInLambdas({ work }));
    const { executionArn } = await sfn.startExecution({ stateMachineArn: 'strict', input: {} });
    const result = await sfn.waitForExecution(executionArn);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('States.Timeout');
    // The execution ended before the 2 s Task did (timer order, so it holds on a loaded machine).
    expect(finished).toBe(false);
    expect(sfn.getExecutionHistory({ executionArn }).events.map((e) => e.type)).toContain('TaskTimedOut');
  });
});

describe('the context object', () => {
  it('holds Execution, StateMachine, State (with RetryCount) and Map.Item like AWS', async () => {
    let calls = 0;
    const seen: unknown[] = [];
    const sfn = runner(
      [
        machine('ctx', {
          StartAt: 'Each',
          States: {
            Each: {
              Type: 'Map',
              ItemsPath: '$.items',
              ItemSelector: { 'value.$': '$$.Map.Item.Value', 'index.$': '$$.Map.Item.Index' },
              ItemProcessor: {
                StartAt: 'Look',
                States: {
                  Look: {
                    Type: 'Task',
                    Resource: 'arn:aws:states:::lambda:invoke',
                    Parameters: {
                      FunctionName: `${FN}look`,
                      Payload: {
                        'item.$': '$',
                        // Inside a Map iteration the library would give the item here.
                        'executionInput.$': '$$.Execution.Input',
                        'executionId.$': '$$.Execution.Id',
                        'name.$': '$$.Execution.Name',
                        'start.$': '$$.Execution.StartTime',
                        'role.$': '$$.Execution.RoleArn',
                        'machine.$': '$$.StateMachine.Name',
                        'machineId.$': '$$.StateMachine.Id',
                        'state.$': '$$.State.Name',
                        'entered.$': '$$.State.EnteredTime',
                        'retry.$': '$$.State.RetryCount',
                      },
                    },
                    Retry: [{ ErrorEquals: ['Again'], IntervalSeconds: 1, MaxAttempts: 1 }],
                    OutputPath: '$.Payload',
                    End: true,
                  },
                },
              },
              End: true,
            },
          },
        }),
      ],
      standInLambdas({
        look: (p) => {
          seen.push(p);
          calls++;
          if (calls === 1) throw Object.assign(new Error('once more'), { errorType: 'Again' });
          return p;
        },
      }),
    );
    const { executionArn } = await sfn.startExecution({
      stateMachineArn: 'ctx',
      name: 'ctx-1',
      input: { items: ['a'] },
    });
    const result = await sfn.waitForExecution(executionArn);
    expect(result.status, result.cause).toBe('SUCCEEDED');
    const [first, second] = seen as Record<string, unknown>[];
    expect(second).toMatchObject({
      item: { value: 'a', index: 0 },
      executionInput: { items: ['a'] },
      executionId: executionArn,
      name: 'ctx-1',
      start: result.startDate.toISOString(),
      role: 'arn:aws:iam::000000000000:role/local',
      machine: 'ctx',
      machineId: `${ARN}ctx`,
      state: 'Look',
      retry: 1,
    });
    expect(first?.['retry']).toBe(0);
    expect(Date.parse(String(second?.['entered']))).toBeGreaterThanOrEqual(result.startDate.getTime());
  });

  it("gives a ResultSelector the RetryCount of the attempt that succeeded, in intrinsic functions too", async () => {
    // prepare: the Task fails twice, then answers; its Parameters and ResultSelector both name the attempt
    let calls = 0;
    const attempt = "States.Format('attempt-{}-{}', $$.Execution.RedriveCount, $$.State.RetryCount)";
    const sfn = runner(
      [
        machine('attempts', {
          StartAt: 'Work',
          States: {
            Work: {
              Type: 'Task',
              Resource: 'arn:aws:states:::lambda:invoke',
              Parameters: { FunctionName: `${FN}work`, Payload: { 'sent.$': attempt } },
              Retry: [{ ErrorEquals: ['Again'], IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 1 }],
              ResultSelector: { 'sent.$': '$.Payload.sent', 'attempt.$': attempt, 'retry.$': '$$.State.RetryCount' },
              ResultPath: '$.work',
              Next: 'After',
            },
            After: { Type: 'Pass', Parameters: { 'work.$': '$.work', 'retry.$': '$$.State.RetryCount' }, End: true },
          },
        }),
      ],
      standInLambdas({
        work: (p) => {
          if (++calls < 3) throw Object.assign(new Error(`attempt ${calls}`), { errorType: 'Again' });
          return p;
        },
      }),
    );
    // act
    const { executionArn } = await sfn.startExecution({ stateMachineArn: 'attempts', input: {} });
    const result = await sfn.waitForExecution(executionArn);
    // assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(JSON.parse(result.output!)).toEqual({
      work: { sent: 'attempt-0-2', attempt: 'attempt-0-2', retry: 2 },
      retry: 0,
    });
  });
});

describe('executions', () => {
  const echo = () => oneTask('echo', {});
  const lambdas = () =>
    standInLambdas({
      work: async (p) => {
        await sleep(50);
        return p;
      },
    });

  it('run concurrently with independent state', async () => {
    const sfn = runner([echo()], lambdas());
    const started = await Promise.all(
      Array.from({ length: 8 }, (_, i) => sfn.startExecution({ stateMachineArn: 'echo', input: { i } })),
    );
    expect(new Set(started.map((s) => s.executionArn)).size).toBe(8);
    const results = await Promise.all(started.map((s) => sfn.waitForExecution(s.executionArn)));
    expect(results.map((r) => JSON.parse(r.output!).i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('fails if a name is reused, with ExecutionAlreadyExists', async () => {
    const sfn = runner([echo()], lambdas());
    const { executionArn } = await sfn.startExecution({ stateMachineArn: 'echo', name: 'once', input: {} });
    await sfn.waitForExecution(executionArn);
    await expect(
      sfn.startExecution({ stateMachineArn: 'echo', name: 'once', input: {} }),
    ).rejects.toMatchObject({
      name: 'ExecutionAlreadyExists',
    });
  });

  it('are persisted atomically and listed again by a new runner on the same state dir', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'mlops-sfn-'));
    const first = runner([echo()], lambdas(), stateDir);
    const { executionArn } = await first.startExecution({
      stateMachineArn: 'echo',
      name: 'kept',
      input: { x: 1 },
    });
    await first.waitForExecution(executionArn);
    const files = readdirSync(join(layout(stateDir).executions, 'echo'));
    expect(files).toEqual(['kept.json']);
    // No temp files left behind by the write-then-rename.
    expect(readdirSync(layout(stateDir).executions).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const onDisk = JSON.parse(readFileSync(join(layout(stateDir).executions, 'echo', 'kept.json'), 'utf8'));
    expect(onDisk.status).toBe('SUCCEEDED');

    const second = runner([echo()], lambdas(), stateDir);
    const listed = second.listExecutions({ stateMachineArn: `${ARN}echo` }).executions;
    expect(listed.map((e) => [e.name, e.status])).toEqual([['kept', 'SUCCEEDED']]);
    const described = second.describeExecution({ executionArn });
    expect(JSON.parse(described.output!)).toEqual({ x: 1 });
    expect(second.getExecutionHistory({ executionArn }).events.at(-1)?.type).toBe('ExecutionSucceeded');
    await expect(second.startExecution({ stateMachineArn: 'echo', name: 'kept' })).rejects.toMatchObject({
      name: 'ExecutionAlreadyExists',
    });
  });

  it('stream progress live and can be stopped (ABORTED)', async () => {
    const sfn = runner([echo()], standInLambdas({ work: () => sleep(5_000) }));
    const { executionArn } = await sfn.startExecution({ stateMachineArn: 'echo', input: {} });
    const seen: string[] = [];
    const watching = (async () => {
      for await (const e of sfn.watch(executionArn)) seen.push(e.type);
    })();
    await sleep(100);
    await sfn.stopExecution({ executionArn, error: 'User.Stop', cause: 'test' });
    await watching;
    const d = sfn.describeExecution({ executionArn });
    expect(d.status).toBe('ABORTED');
    expect(d.error).toBe('User.Stop');
    expect(seen.slice(0, 2)).toEqual(['ExecutionStarted', 'TaskStateEntered']);
    expect(seen.at(-1)).toBe('ExecutionAborted');
  });
});

describe('definitions', () => {
  it('fails if the machine uses JSONata, saying the runner runs JSONPath only', () => {
    expect(() =>
      assertRunnable(
        { QueryLanguage: 'JSONata', StartAt: 'A', States: { A: { Type: 'Succeed' } } },
        'state machine m',
      ),
    ).toThrow(/state machine m uses JSONata \(top level\).*JSONPath machines only/);
    expect(() =>
      assertRunnable(
        { StartAt: 'A', States: { A: { Type: 'Pass', QueryLanguage: 'JSONata', End: true } } },
        'state machine m',
      ),
    ).toThrow(/uses JSONata \(state A\)/);
  });
});
