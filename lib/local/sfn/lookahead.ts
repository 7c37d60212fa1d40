/**
 * Which Lambda functions a state machine calls next, so that the local platform can start their
 * workers while the current step runs (as Lambda's proactive initialization starts environments
 * before they are invoked). A training run calls five functions one after another, each the first
 * time in a fresh worker (0.15–0.45 s of init apiece on a two-core machine); started two Lambda
 * steps ahead, that init overlaps the steps in between (Athena queries, the training job) instead
 * of adding to them.
 */
import { type AslDefinition, type AslState, allStates, children, type StateMachineSpec } from './definition';
import type { ProgressEvent } from './history';
import { LAMBDA_FUNCTION_RESOURCE, LAMBDA_INVOKE_RESOURCE, parseFunctionName } from './integrations';

/**
 * The function a Task state invokes, when the definition names it (a `FunctionName.$` path does
 * not), for the resources the local runner invokes Lambda for (`lambdaIntegrations` in integrations.ts).
 */
export function lambdaFunctionOf(state: AslState): string | undefined {
  if (state.Type !== 'Task' || typeof state['Resource'] !== 'string') return undefined;
  const resource = state['Resource'];
  if (resource === LAMBDA_INVOKE_RESOURCE) {
    const params = (state['Parameters'] ?? state['Arguments']) as Record<string, unknown> | undefined;
    const name = params?.['FunctionName'];
    return typeof name === 'string' && !name.includes('{%') ? parseFunctionName(name).functionName : undefined;
  }
  return LAMBDA_FUNCTION_RESOURCE.test(resource) ? parseFunctionName(resource).functionName : undefined;
}

/** The states a state hands over to when it succeeds: `Next`, a Choice's branches, a Map's or Parallel's first states. */
function successors(state: AslState): string[] {
  const out: string[] = [];
  if (typeof state['Next'] === 'string') out.push(state['Next']);
  if (typeof state['Default'] === 'string') out.push(state['Default']);
  for (const choice of (state['Choices'] as { Next?: unknown }[] | undefined) ?? [])
    if (typeof choice.Next === 'string') out.push(choice.Next);
  for (const child of children(state)) if (typeof child.StartAt === 'string') out.push(child.StartAt);
  return out;
}

/**
 * For each state, the Lambda functions of the next `depth` Lambda Tasks on each path out of it: its
 * successors are followed through states that call no function (Athena, SageMaker, Pass, Choice,
 * Map) and past Lambda Tasks until `depth` of them are behind. Catch paths are not followed:
 * failures are rare, and a worker started for them would mostly sit idle. State names are
 * machine-unique in ASL, so one map covers nested states too.
 *
 * Two ahead, because one is not enough locally: a short step (a 0.16-s evaluation) ends before the
 * next function's worker has loaded (0.15–0.45 s).
 *
 * @example
 * lambdaLookahead(training.definition).get('Validate data'); // ['…-stagefunction…', '…-evaluatefunction…']
 */
export function lambdaLookahead(definition: AslDefinition, depth = 2): Map<string, string[]> {
  const states = new Map(allStates(definition));
  const ahead = new Map<string, string[]>();
  for (const [name, state] of states) {
    const found = new Set<string>();
    const seen = new Set<string>();
    // [state, Lambda Tasks passed on the way to it]
    const queue: [string, number][] = successors(state).map((n) => [n, 0]);
    while (queue.length > 0) {
      const [next, passed] = queue.shift()!;
      if (seen.has(`${passed}:${next}`)) continue;
      seen.add(`${passed}:${next}`);
      const s = states.get(next);
      if (!s) continue;
      const fn = lambdaFunctionOf(s);
      if (fn) found.add(fn);
      const after = passed + (fn ? 1 : 0);
      if (after < depth) queue.push(...successors(s).map((n): [string, number] => [n, after]));
    }
    if (found.size > 0) ahead.set(name, [...found]);
  }
  return ahead;
}

/**
 * As an execution enters a state, starts the workers of the Lambda functions it calls next
 * ({@link lambdaLookahead}), so that their init overlaps the steps under way instead of following
 * them; a function with a worker already is left alone (the engine's `prewarm` says so). Returns
 * the unsubscribe.
 *
 * @example
 * closers.push(prewarmAhead(sfn, lambdaEngine));
 */
export function prewarmAhead(
  sfn: {
    readonly machines: readonly StateMachineSpec[];
    subscribe(listener: (e: ProgressEvent) => void): () => void;
  },
  lambda: { prewarm(nameOrArn: string): unknown },
): () => void {
  const ahead = new Map(sfn.machines.map((m) => [m.name, lambdaLookahead(m.definition)]));
  return sfn.subscribe(({ executionArn, event }) => {
    if (!event.type.endsWith('StateEntered')) return;
    // arn:aws:states:<region>:<account>:execution:<machine>[/<map run>]:<name>
    const machine = /:execution:([^:/]+)/.exec(executionArn)?.[1];
    const state = (event['stateEnteredEventDetails'] as { name?: unknown } | undefined)?.name;
    if (machine === undefined || typeof state !== 'string') return;
    for (const fn of ahead.get(machine)?.get(state) ?? []) lambda.prewarm(fn);
  });
}
