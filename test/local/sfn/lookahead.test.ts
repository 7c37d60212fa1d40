/**
 * Lambda workers started ahead of their Tasks: which functions a state looks ahead to
 * (`lambdaLookahead`), and a real run (the kit's Step Functions runner, the Lambda engine's worker
 * threads) in which the functions after the first find their handlers loaded.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InvokeResult, LambdaEngine } from '../../../lib/local/lambda';
import {
  type AslDefinition,
  IntegrationRegistry,
  LocalStepFunctions,
  lambdaFunctionOf,
  lambdaIntegrations,
  lambdaLookahead,
  prewarmAhead,
} from '../../../lib/local/sfn';
import { FN, machine } from './helpers';

const invoke = (name: string, next?: string) => ({
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  Parameters: { FunctionName: `${FN}${name}`, 'Payload.$': '$' },
  OutputPath: '$.Payload',
  ...(next ? { Next: next } : { End: true }),
});

describe('lambdaLookahead', () => {
  /** validate → query (Athena) → stage → gate (Choice) → evaluate | rejected; failures caught to notify. */
  const definition: AslDefinition = {
    StartAt: 'Validate',
    States: {
      Validate: { ...invoke('validate', 'Query'), Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Notify' }] },
      Query: { Type: 'Task', Resource: 'arn:aws:states:::athena:startQueryExecution.sync', Next: 'Stage' },
      Stage: { ...invoke('stage', 'Gate') },
      Gate: {
        Type: 'Choice',
        Choices: [{ Variable: '$.ok', BooleanEquals: true, Next: 'Each' }],
        Default: 'Rejected',
      },
      Each: {
        Type: 'Map',
        ItemProcessor: { StartAt: 'Score', States: { Score: { Type: 'Task', Resource: `${FN}score:live`, End: true } } },
        Next: 'Evaluate',
      },
      Evaluate: { ...invoke('evaluate') },
      Rejected: { Type: 'Fail' },
      Notify: { ...invoke('notify') },
    },
  };

  it('maps each state to the next two Lambda Tasks on its paths, through non-Lambda states and into Map items, not Catch', () => {
    const ahead = [...lambdaLookahead(definition)].map(([state, fns]) => [state, [...fns].sort()]);
    expect(Object.fromEntries(ahead)).toEqual({
      // stage, then the Map's item (score) or, past the Map, evaluate
      Validate: ['evaluate', 'score', 'stage'],
      Query: ['evaluate', 'score', 'stage'],
      Stage: ['evaluate', 'score'],
      Gate: ['evaluate', 'score'],
      Each: ['evaluate', 'score'],
      // Evaluate, Score and Notify end their paths; Rejected fails; Notify is reached only by Catch
    });
  });

  it('looks one Task ahead with depth 1', () => {
    expect(lambdaLookahead(definition, 1).get('Validate')).toEqual(['stage']);
  });

  it('names the function of lambda:invoke (ARN, name, qualified) and of a bare function ARN, and none for a path or other services', () => {
    expect(lambdaFunctionOf({ ...invoke('a') })).toBe('a');
    expect(lambdaFunctionOf({ Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { FunctionName: 'plain:prod' } })).toBe('plain');
    expect(lambdaFunctionOf({ Type: 'Task', Resource: `${FN}bare:3` })).toBe('bare');
    expect(lambdaFunctionOf({ Type: 'Task', Resource: 'arn:aws:states:::lambda:invoke', Parameters: { 'FunctionName.$': '$.fn' } })).toBeUndefined();
    expect(lambdaFunctionOf({ Type: 'Task', Resource: 'arn:aws:states:::sns:publish', Parameters: { FunctionName: 'x' } })).toBeUndefined();
    expect(lambdaFunctionOf({ Type: 'Pass', Resource: `${FN}x` })).toBeUndefined();
  });
});

describe('prewarmAhead on a real run', () => {
  let root: string;
  const engines: LambdaEngine[] = [];

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'mlops-lookahead-'));
    const code = join(root, 'code');
    mkdirSync(code);
    writeFileSync(
      join(code, 'index.js'),
      'exports.slow = async (e) => { await new Promise((r) => setTimeout(r, 1500)); return e; };\nexports.quick = async (e) => e;\n',
    );
  });

  afterAll(async () => {
    await Promise.all(engines.map((e) => e.close()));
    rmSync(root, { recursive: true, force: true });
  });

  /** first (1.5 s) → a Pass → second → third, each a function of its own; answers each invocation's result. */
  async function run(prewarm: boolean, tag: string): Promise<Map<string, InvokeResult>> {
    const lambda = new LambdaEngine({ log: () => {} });
    engines.push(lambda);
    const code = join(root, 'code');
    lambda.register({ name: 'first', codeDir: code, handler: 'index.slow', timeoutSeconds: 10 });
    lambda.register({ name: 'second', codeDir: code, handler: 'index.quick' });
    lambda.register({ name: 'third', codeDir: code, handler: 'index.quick' });
    const results = new Map<string, InvokeResult>();
    const sfn = new LocalStepFunctions({
      stateDir: join(root, tag),
      machines: [
        machine('chain', {
          StartAt: 'First',
          States: {
            First: invoke('first', 'Between'),
            Between: { Type: 'Pass', Next: 'Second' },
            Second: invoke('second', 'Third'),
            Third: invoke('third'),
          },
        }),
      ],
      integrations: new IntegrationRegistry().use(
        lambdaIntegrations({
          invoke: async ({ functionName, payload }) => {
            const r = await lambda.invoke(functionName, payload);
            results.set(functionName, r);
            return { payload: r.payload as never, functionError: r.functionError };
          },
        }),
      ),
    });
    const stop = prewarm ? prewarmAhead(sfn, lambda) : () => {};
    try {
      const { executionArn } = await sfn.startExecution({ stateMachineArn: 'chain', input: { n: 1 } });
      const d = await sfn.waitForExecution(executionArn);
      expect(d.status).toBe('SUCCEEDED');
      expect(JSON.parse(d.output!)).toEqual({ n: 1 });
    } finally {
      stop();
      sfn.detach();
    }
    return results;
  }

  it('starts the next functions while the first runs: they report no init, and each has one worker', async () => {
    const warm = await run(true, 'warm');
    expect(warm.get('first')!.initDurationMs).toBeGreaterThan(0);
    expect(warm.get('second')!.initDurationMs).toBeUndefined();
    expect(warm.get('third')!.initDurationMs).toBeUndefined();
    expect(warm.get('second')!.logs.at(-1)).not.toMatch(/Init Duration/);
    const engine = engines.at(-1)!;
    expect(['first', 'second', 'third'].map((f) => engine.workerCount(f))).toEqual([1, 1, 1]);
  });

  it('without it, each function starts cold when its Task runs', async () => {
    const cold = await run(false, 'cold');
    for (const f of ['first', 'second', 'third']) expect(cold.get(f)!.initDurationMs).toBeGreaterThan(0);
  });
});
