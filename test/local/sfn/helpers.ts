/**
 * Stand-ins for the Lambda engine (another engineer's): plain async functions behind the
 * {@link LambdaInvoker} interface, answering as Lambda's Invoke API does — a thrown error becomes
 * `functionError: 'Unhandled'` with `{errorType, errorMessage}` as the payload.
 */
import type { AslDefinition, LambdaInvoker, StateMachineSpec } from '../../../lib/local/sfn';

export class FunctionError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
  ) {
    super(message);
  }
}

export type StandIn = (payload: unknown) => Promise<unknown> | unknown;

export function standInLambdas(
  functions: Record<string, StandIn>,
): LambdaInvoker & { calls: { name: string; payload: unknown }[] } {
  const calls: { name: string; payload: unknown }[] = [];
  return {
    calls,
    async invoke({ functionName, payload }) {
      const fn = functions[functionName];
      if (!fn) {
        const err = new Error(`Function not found: ${functionName}`);
        err.name = 'ResourceNotFoundException';
        throw err;
      }
      calls.push({ name: functionName, payload });
      try {
        return { payload: (await fn(payload)) ?? null };
      } catch (err) {
        const e = err as FunctionError;
        return {
          functionError: 'Unhandled',
          payload: { errorType: e.errorType ?? 'Error', errorMessage: e.message, trace: [] },
        };
      }
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:';
export const FN = 'arn:aws:lambda:us-east-1:000000000000:function:';

/** A hand-written machine as `loadStateMachines` would give it. */
export const machine = (name: string, definition: AslDefinition): StateMachineSpec => ({
  name,
  arn: `${ARN}${name}`,
  roleArn: 'arn:aws:iam::000000000000:role/local',
  type: 'STANDARD',
  definition,
  stackName: 'Local-Test',
  logicalId: name,
});

/** A Task invoking the stand-in function `work` with the state input, its output the response. */
export const WORK_TASK = {
  Type: 'Task',
  Resource: 'arn:aws:states:::lambda:invoke',
  Parameters: { FunctionName: `${FN}work`, 'Payload.$': '$' },
  OutputPath: '$.Payload',
  End: true,
} as const;
