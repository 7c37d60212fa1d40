/**
 * Stand-ins for the Lambda engine (another engineer's): plain async functions behind the
 * {@link LambdaInvoker} interface, answering as Lambda's Invoke API does — a thrown error becomes
 * `functionError: 'Unhandled'` with `{errorType, errorMessage}` as the payload.
 */
import type { LambdaInvoker } from '../../../lib/local/sfn';

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
