/**
 * Execution history in the shape of Step Functions' `GetExecutionHistory`, built from
 * aws-local-stepfunctions' event stream plus the Task events the runner records itself (the
 * library has no TaskScheduled/Started/Succeeded/Failed).
 */

/** One history event; `details` sits under the SDK's `<type>EventDetails` key when serialized. */
export interface HistoryEvent {
  id: number;
  previousEventId: number;
  /** ISO-8601. */
  timestamp: string;
  type: string;
  [details: string]: unknown;
}

/** What the CLI prints live: a state entered or left, and the end of the execution. */
export interface ProgressEvent {
  readonly executionArn: string;
  readonly event: HistoryEvent;
}

const STATE_TYPES: Record<string, string> = {
  Task: 'Task',
  Choice: 'Choice',
  Map: 'Map',
  // The runner's name for a Distributed Map (run outside the library); its history says Map.
  DistributedMap: 'Map',
  Parallel: 'Parallel',
  Pass: 'Pass',
  Wait: 'Wait',
  Succeed: 'Succeed',
  Fail: 'Fail',
};

/** `TaskStateEntered`, `ChoiceStateExited`, … */
export const stateEventType = (stateType: string, phase: 'Entered' | 'Exited') =>
  `${STATE_TYPES[stateType] ?? stateType}State${phase}`;

/** The SDK's details key for an event type: `TaskScheduled` → `taskScheduledEventDetails`. */
export function detailsKey(type: string): string {
  const base = /State(Entered|Exited)$/.test(type)
    ? type.endsWith('Entered')
      ? 'stateEntered'
      : 'stateExited'
    : type.charAt(0).toLowerCase() + type.slice(1);
  return `${base}EventDetails`;
}

export const stringify = (v: unknown) => (v === undefined ? 'null' : JSON.stringify(v));
