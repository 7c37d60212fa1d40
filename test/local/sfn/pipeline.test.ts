/**
 * End to end: the fixture app's state machine, synthesized by CDK, read from the assembly and run
 * locally with stand-in Lambdas and the real Athena engine (DuckDB over CSV in the state dir).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAssembly } from '../../../lib/local/assembly';
import { AthenaEngine, catalogFromAssembly, localPathOf } from '../../../lib/local/athena';
import {
  athenaIntegrations,
  IntegrationRegistry,
  LocalStepFunctions,
  lambdaIntegrations,
  loadStateMachines,
  MissingIntegrationError,
  type StateMachineSpec,
} from '../../../lib/local/sfn';
import { FIXTURE, synthFixture } from '../assembly/fixture-app';
import { FunctionError, standInLambdas } from './helpers';

describe('a synthesized pipeline run locally', () => {
  let stateDir: string;
  let athena: AthenaEngine;
  let sfn: LocalStepFunctions;
  let machine: StateMachineSpec;
  let lambdas: ReturnType<typeof standInLambdas>;
  const attempts = new Map<string, number>();

  beforeAll(async () => {
    const stage = readAssembly(synthFixture(), { stage: FIXTURE.stage });
    stateDir = mkdtempSync(join(tmpdir(), 'mlops-sfn-'));
    const bucket = stage.physicalName(stage.resourceAt('Local/Data/Lake')!);
    const dir = join(stateDir, 's3', bucket, 'raw', 'wine', 'batch=1');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'part-0.csv'), 'alcohol;quality\n9.4;5\n9.8;5\n10.0;6\n12.1;7\n');
    athena = await AthenaEngine.start({ stateDir, catalog: catalogFromAssembly(stage) });
    const score = stage.physicalName(stage.resourceAt('Local/Pipeline/Score')!);
    lambdas = standInLambdas({
      // One function for both Tasks that use it, as in the fixture.
      [score]: (payload) => {
        const p = payload as { mode?: string; row?: unknown; index?: number; execution?: string };
        if (p.mode === 'explode') throw new FunctionError('ValidationError', 'bad input');
        if (p.mode !== undefined) return { ok: true, startTime: (payload as { token: string }).token };
        // Flaky: each row fails twice with 'Flaky', then succeeds (Retry MaxAttempts 3).
        const key = `${p.execution}/${p.index}`;
        const n = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, n);
        if (n < 3) throw new FunctionError('Flaky', `attempt ${n}`);
        return { index: p.index, attempts: n };
      },
      'record-failure': () => ({ stored: true }),
    });
    const machines = loadStateMachines(stage);
    machine = machines[0]!;
    sfn = new LocalStepFunctions({
      stateDir,
      machines,
      integrations: new IntegrationRegistry()
        .use(lambdaIntegrations(lambdas))
        .use(athenaIntegrations(athena)),
    });
  });

  afterAll(() => athena?.close());

  it('loads the machine from the assembly with its local name, ARN and role', () => {
    expect(machine.arn).toBe(
      `arn:aws:states:${FIXTURE.region}:${FIXTURE.account}:stateMachine:${machine.name}`,
    );
    expect(machine.roleArn).toMatch(/^arn:aws:iam::000000000000:role\//);
    expect(machine.definition.States['CountByQuality']?.['Resource']).toBe(
      'arn:aws:states:::athena:startQueryExecution.sync',
    );
  });

  it('runs Lambda, Choice, Athena .sync, Map and Retry to success, with an SFN-shaped history', async () => {
    const { executionArn } = await sfn.startExecution({
      stateMachineArn: machine.arn,
      name: 'happy',
      input: { mode: 'run' },
    });
    const result = await sfn.waitForExecution(executionArn);
    expect(result.status, result.cause).toBe('SUCCEEDED');
    const out = JSON.parse(result.output!);
    // The Validate Task saw $$.Execution.StartTime, which is the execution's start date.
    expect(out.validation).toEqual({ ok: true });
    const validateCall = lambdas.calls.find((c) => (c.payload as { mode?: string }).mode === 'run');
    expect((validateCall?.payload as { token?: string } | undefined)?.token).toBe(
      result.startDate.toISOString(),
    );
    // Athena ran on DuckDB: qualities 5, 6, 7; the .sync output is AWS's {QueryExecution}.
    expect(out.query.QueryExecution.Status.State).toBe('SUCCEEDED');
    expect(out.query.QueryExecution.WorkGroup).toBe(FIXTURE.workGroup);
    expect(typeof out.query.QueryExecution.Status.SubmissionDateTime).toBe('number');
    expect(
      out.counts.rows.map((r: { Data: { VarCharValue: string }[] }) => r.Data.map((d) => d.VarCharValue)),
    ).toEqual([
      ['5', '2'],
      ['6', '1'],
      ['7', '1'],
    ]);
    // The result CSV went to the workgroup's enforced output location.
    const location: string = out.query.QueryExecution.ResultConfiguration.OutputLocation;
    expect(location).toMatch(
      new RegExp(`/athena-results/${out.query.QueryExecution.QueryExecutionId}\\.csv$`),
    );
    expect(localPathOf(stateDir, location)).toContain(join(stateDir, 's3'));
    // Map with ItemSelector ($$.Map.Item.*, $$.Execution.Name); each item succeeded on its 3rd try.
    expect(out.scored).toEqual([
      { index: 0, attempts: 3 },
      { index: 1, attempts: 3 },
      { index: 2, attempts: 3 },
    ]);
    const types = sfn.getExecutionHistory({ executionArn }).events.map((e) => e.type);
    for (const t of [
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
      // ScoreRow's Resource is a bare function ARN: Step Functions logs LambdaFunction* events.
      'LambdaFunctionScheduled',
      'LambdaFunctionFailed',
      'LambdaFunctionSucceeded',
      'ChoiceStateEntered',
      'MapStateEntered',
      'MapStateStarted',
      'MapIterationStarted',
      'MapIterationSucceeded',
      'MapStateSucceeded',
      'SucceedStateEntered',
      'ExecutionSucceeded',
    ]) {
      expect(types, t).toContain(t);
    }
    // 2 failed attempts × 3 rows.
    expect(types.filter((t) => t === 'LambdaFunctionFailed')).toHaveLength(6);
    expect(types.filter((t) => t === 'LambdaFunctionSucceeded')).toHaveLength(3);
    expect(types[0]).toBe('ExecutionStarted');
    expect(types.at(-1)).toBe('ExecutionSucceeded');
    const firstTask = types.indexOf('TaskStateEntered');
    expect(types.slice(firstTask, firstTask + 5)).toEqual([
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
    ]);
  });

  it('takes the Choice branch that skips the query', async () => {
    const { executionArn } = await sfn.startExecution({
      stateMachineArn: machine.name,
      input: '{"mode":"skip"}',
    });
    const result = await sfn.waitForExecution(executionArn);
    expect(result.status).toBe('SUCCEEDED');
    const entered = sfn
      .getExecutionHistory({ executionArn })
      .events.filter((e) => e.type.endsWith('StateEntered'))
      .map((e) => (e['stateEnteredEventDetails'] as { name: string }).name);
    expect(entered).toEqual(['Validate', 'Mode', 'Skipped']);
  });

  it('routes a Lambda error through Catch to the failure-recording state', async () => {
    const { executionArn } = await sfn.startExecution({
      stateMachineArn: machine.arn,
      name: 'boom',
      input: { mode: 'explode' },
    });
    const result = await sfn.waitForExecution(executionArn);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('PipelineFailed');
    expect(result.cause).toBe('see the failure record');
    const recorded = lambdas.calls.find(
      (c) => c.name === 'record-failure' && (c.payload as { execution: string }).execution === executionArn,
    );
    const payload = recorded?.payload as { error: { Error: string; Cause: string }; state: string };
    // The Lambda's errorType is the Step Functions error; the Cause is the function's error JSON.
    expect(payload.error.Error).toBe('ValidationError');
    expect(JSON.parse(payload.error.Cause)).toMatchObject({
      errorType: 'ValidationError',
      errorMessage: 'bad input',
    });
    // $$.State.Name is the state evaluating it.
    expect(payload.state).toBe('RecordTheFailure');
  });

  it('fails before the run starts if a Task has no local integration, naming state, machine and Resource', async () => {
    const bare = new LocalStepFunctions({
      stateDir,
      machines: [machine],
      integrations: new IntegrationRegistry().use(lambdaIntegrations(lambdas)),
    });
    const before = bare.listExecutions().executions.length;
    const attempt = bare.startExecution({ stateMachineArn: machine.arn, name: 'never', input: {} });
    await expect(attempt).rejects.toBeInstanceOf(MissingIntegrationError);
    await expect(attempt).rejects.toThrow(
      new RegExp(
        `State machine ${machine.name}: Task state 'CountByQuality' has Resource arn:aws:states:::athena:startQueryExecution\\.sync`,
      ),
    );
    expect(() => bare.validate()).toThrow(/ReadCounts.*athena:getQueryResults/s);
    expect(bare.listExecutions().executions).toHaveLength(before);
  });
});
