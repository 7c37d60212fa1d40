/**
 * Step Functions over its own wire protocol (AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.<Op>`),
 * the calls the Pipelines page needs. Timestamps arrive as epoch seconds.
 */
import { config } from './config';
import { requestJson } from './http';

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE';

export interface StateMachineListItem {
  readonly stateMachineArn: string;
  readonly name: string;
  readonly type: string;
  readonly creationDate: number;
}

export interface StateMachineDescription extends StateMachineListItem {
  /** The Amazon States Language document, as a JSON string. */
  readonly definition: string;
  readonly status?: string;
  readonly roleArn?: string;
}

export interface ExecutionListItem {
  readonly executionArn: string;
  readonly stateMachineArn: string;
  readonly name: string;
  readonly status: ExecutionStatus;
  readonly startDate: number;
  readonly stopDate?: number;
}

export interface ExecutionDescription extends ExecutionListItem {
  readonly input?: string;
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
}

export interface HistoryEvent {
  readonly id: number;
  readonly previousEventId?: number;
  readonly timestamp: number;
  readonly type: string;
  readonly [details: string]: unknown;
}

/** One Step Functions call. */
export function sfnCall<T>(operation: string, input: Record<string, unknown>): Promise<T> {
  return requestJson<T>(
    config().awsEndpoint,
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `AWSStepFunctions.${operation}` },
      body: JSON.stringify(input),
    },
    'aws',
  );
}

/** Follows `nextToken` until the listing ends (bounded, so a looping token cannot hang a page). */
async function all<T>(operation: string, input: Record<string, unknown>, key: string, maxPages = 20): Promise<T[]> {
  const items: T[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const out = await sfnCall<Record<string, unknown>>(operation, { ...input, ...(nextToken ? { nextToken } : {}) });
    items.push(...((out[key] as T[] | undefined) ?? []));
    nextToken = out['nextToken'] as string | undefined;
    if (!nextToken) break;
  }
  return items;
}

export const sfn = {
  listStateMachines: () => all<StateMachineListItem>('ListStateMachines', {}, 'stateMachines'),
  describeStateMachine: (stateMachineArn: string) =>
    sfnCall<StateMachineDescription>('DescribeStateMachine', { stateMachineArn }),
  listExecutions: (stateMachineArn: string, statusFilter?: ExecutionStatus) =>
    all<ExecutionListItem>(
      'ListExecutions',
      { stateMachineArn, maxResults: 100, ...(statusFilter ? { statusFilter } : {}) },
      'executions',
      5,
    ),
  describeExecution: (executionArn: string) => sfnCall<ExecutionDescription>('DescribeExecution', { executionArn }),
  getExecutionHistory: (executionArn: string) =>
    all<HistoryEvent>('GetExecutionHistory', { executionArn, maxResults: 1000 }, 'events'),
  startExecution: (stateMachineArn: string, input: string, name?: string) =>
    sfnCall<{ executionArn: string; startDate: number }>('StartExecution', {
      stateMachineArn,
      input,
      ...(name ? { name } : {}),
    }),
};
