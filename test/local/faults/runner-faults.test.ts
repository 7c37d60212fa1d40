/**
 * The runner under I/O faults and after a kill, in-process: an execution store whose writes fail
 * (ENOSPC, EIO injected through its fs layer) fails the operation, never the process; RUNNING
 * records left by a dead process are recorded ABORTED with their history and a stop date.
 */
import { spawnSync } from 'node:child_process';
import * as nodeFs from 'node:fs';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { layout } from '../../../lib/local/layout';
import {
  type ExecutionRecord,
  ExecutionStore,
  IntegrationRegistry,
  lambdaIntegrations,
  LocalStepFunctions,
  type StateMachineSpec,
} from '../../../lib/local/sfn';
import type { StoreFs } from '../../../lib/local/sfn/store';
import { sleep, standInLambdas } from '../sfn/helpers';

const ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:';
const FN = 'arn:aws:lambda:us-east-1:000000000000:function:';
const twoSteps: StateMachineSpec = {
  name: 'two',
  arn: `${ARN}two`,
  roleArn: 'arn:aws:iam::000000000000:role/local',
  type: 'STANDARD',
  stackName: 'Local-Test',
  logicalId: 'two',
  definition: {
    StartAt: 'First',
    States: {
      First: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: `${FN}slow`, 'Payload.$': '$' }, OutputPath: '$.Payload', Next: 'Second' },
      Second: { Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: `${FN}slow`, 'Payload.$': '$' }, OutputPath: '$.Payload', End: true },
    },
  },
};
const lambdas = standInLambdas({
  slow: async (p) => {
    await sleep(50);
    return p;
  },
});

/** node:fs whose writes fail with `code` once `failAfter` writes have succeeded. */
function failingFs(code: 'ENOSPC' | 'EIO', failAfter: number): StoreFs & { writes: number } {
  const fs = {
    ...nodeFs,
    writes: 0,
    writeFileSync(...args: Parameters<typeof nodeFs.writeFileSync>) {
      if (fs.writes++ >= failAfter) {
        const err = new Error(`${code}: injected, write`) as NodeJS.ErrnoException;
        err.code = code;
        throw err;
      }
      return nodeFs.writeFileSync(...args);
    },
  };
  return fs;
}

const runner = (stateDir: string, fs?: StoreFs, log?: (l: string) => void) =>
  new LocalStepFunctions({
    stateDir,
    machines: [twoSteps],
    integrations: new IntegrationRegistry().use(lambdaIntegrations(lambdas)),
    ...(fs ? { fs } : {}),
    ...(log ? { log } : {}),
  });

describe('a store that cannot be written', () => {
  it.each(['ENOSPC', 'EIO'] as const)('fails the execution with %s as its cause, and leaves no temp file', async (code) => {
    // prepare: the first record write succeeds, every later one fails
    const stateDir = mkdtempSync(join(tmpdir(), 'mlops-faults-'));
    const logged: string[] = [];
    const sfn = runner(stateDir, failingFs(code, 1), (l) => logged.push(l));
    // act
    const { executionArn } = await sfn.startExecution({ stateMachineArn: 'two', input: '{"a":1}' });
    const d = await sfn.waitForExecution(executionArn);
    // assess
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('States.Runtime');
    expect(d.cause).toMatch(new RegExp(`execution record could not be written to .*${code}: injected`));
    expect(d.stopDate).toBeInstanceOf(Date);
    const history = sfn.getExecutionHistory({ executionArn }).events.map((e) => e.type);
    expect(history.at(-1)).toBe('ExecutionFailed');
    expect(history).not.toContain('ExecutionAborted');
    expect(logged.join('\n')).toMatch(/ended FAILED but its record could not be written/);
    expect(readdirSync(layout(stateDir).executions).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses to start an execution it cannot record, and starts the next one once it can', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'mlops-faults-'));
    const fs = failingFs('ENOSPC', 0);
    const sfn = runner(stateDir, fs);
    await expect(sfn.startExecution({ stateMachineArn: 'two', name: 'x' })).rejects.toThrow(
      /the execution record could not be written: ENOSPC/,
    );
    expect(sfn.listExecutions().executions).toEqual([]);
    fs.writes = -1_000; // space again
    const { executionArn } = await sfn.startExecution({ stateMachineArn: 'two', name: 'x' });
    expect((await sfn.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
  });
});

describe('an execution cut off by a killed platform', () => {
  const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

  function leftRunning(stateDir: string, pid: number, processStart?: string): ExecutionRecord {
    const record: ExecutionRecord = {
      executionArn: `${ARN.replace(':stateMachine:', ':execution:')}two:cut`,
      stateMachineArn: twoSteps.arn,
      stateMachineName: 'two',
      name: 'cut',
      status: 'RUNNING',
      startDate: '2026-12-01T10:00:00.000Z',
      input: '{}',
      events: [
        { id: 1, previousEventId: 0, timestamp: '2026-12-01T10:00:00.000Z', type: 'ExecutionStarted' },
        { id: 2, previousEventId: 1, timestamp: '2026-12-01T10:00:01.500Z', type: 'TaskStateEntered', stateEnteredEventDetails: { name: 'Second' } },
      ],
      pid,
      ...(processStart ? { processStart } : {}),
    };
    new ExecutionStore(stateDir).write(record);
    return record;
  }

  it('is recorded ABORTED at the next start, with its history, the last event as stop date and the cause', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'mlops-faults-'));
    leftRunning(stateDir, deadPid());
    const sfn = runner(stateDir);
    expect(sfn.recovered.map((r) => r.name)).toEqual(['cut']);
    const arn = sfn.recovered[0]!.executionArn;
    const d = sfn.describeExecution({ executionArn: arn });
    expect(d.status).toBe('ABORTED');
    expect(d.stopDate?.toISOString()).toBe('2026-12-01T10:00:01.500Z');
    expect(d.cause).toMatch(/The local platform stopped \(process \d+ exited or was killed\)/);
    const events = sfn.getExecutionHistory({ executionArn: arn }).events;
    expect(events.map((e) => e.type)).toEqual(['ExecutionStarted', 'TaskStateEntered', 'ExecutionAborted']);
    expect(events[2]).toMatchObject({ id: 3, previousEventId: 2 });
    // on disk too, so the next start does not recover it again
    expect(new ExecutionStore(stateDir).read('two', 'cut')?.status).toBe('ABORTED');
    expect(runner(stateDir).recovered).toEqual([]);
  });

  it('is recovered when its pid now belongs to another process, and left alone while its own process runs', () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'mlops-faults-'));
    const livePid = process.ppid; // alive, and not this process
    leftRunning(stateDir, livePid, 'not-its-start-time');
    expect(runner(stateDir).recovered.map((r) => r.name)).toEqual(process.platform === 'linux' ? ['cut'] : []);

    const other = mkdtempSync(join(tmpdir(), 'mlops-faults-'));
    leftRunning(other, livePid);
    expect(runner(other).recovered).toEqual([]);
  });
});
