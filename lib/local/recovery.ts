/**
 * What a platform that was killed leaves half-done, put right when it starts again: an execution
 * cut off during "Register model" may have created a registered model, an experiment and a RUNNING
 * run without the model version that completes them. The runner records such executions ABORTED
 * (see `LocalStepFunctions.recovered`); here their registrations are rolled back through the
 * registry's own MLflow API, as the register step rolls back a failure it sees itself.
 *
 * @example
 * await rollBackInterruptedRegistrations(sfn.recovered, { register: 'Register model' }, gatewayUrl, log);
 */
import { HttpMlflowClient } from '../adapters/sigv4-http/mlflow-client';
import type { MlflowClient } from '../pipelines/mlflow-client';
import { type RegisterRequest, rollbackRegistration } from '../pipelines/register';
import { cleanUpRelease, type ReleaseObjects } from '../release/release';
import type { ExecutionRecord } from './sfn';

/** The training pipeline's register and rollback states, as its state machine fact names them. */
export interface RegistrationStates {
  readonly register: string;
  readonly rollback?: string;
}

/** The register step's input, when the execution got as far as scheduling it. */
export function registrationOf(
  record: ExecutionRecord,
  states: RegistrationStates,
): Pick<RegisterRequest, 'model_name' | 'execution'> | undefined {
  let inRegister = false;
  for (const e of record.events) {
    if (e.type.endsWith('StateEntered')) {
      const name = (e['stateEnteredEventDetails'] as { name?: string } | undefined)?.name;
      inRegister = name === states.register || (states.rollback !== undefined && name === states.rollback);
      continue;
    }
    if (!inRegister) continue;
    const scheduled =
      e.type === 'LambdaFunctionScheduled'
        ? (e['lambdaFunctionScheduledEventDetails'] as { input?: string } | undefined)?.input
        : e.type === 'TaskScheduled'
          ? (e['taskScheduledEventDetails'] as { parameters?: string } | undefined)?.parameters
          : undefined;
    if (scheduled === undefined) continue;
    try {
      const parsed = JSON.parse(scheduled) as { Payload?: unknown } & Partial<RegisterRequest>;
      const request = (parsed.Payload ?? parsed) as Partial<RegisterRequest>;
      if (typeof request.model_name === 'string' && typeof request.execution === 'string') {
        return { model_name: request.model_name, execution: request.execution };
      }
    } catch {
      // A cut-off record is read as far as it goes.
    }
  }
  return undefined;
}

/** Rolls back the registrations of executions a stopped platform cut off; logs what it removed. */
export async function rollBackInterruptedRegistrations(
  recovered: readonly ExecutionRecord[],
  states: RegistrationStates,
  gatewayUrl: string,
  log: (line: string) => void,
): Promise<void> {
  const client = new HttpMlflowClient({ baseUrl: gatewayUrl });
  for (const record of recovered) {
    const request = registrationOf(record, states);
    if (!request) continue;
    try {
      const r = await rollbackRegistration(client, request);
      if (!r.rolledBack) continue;
      const removed = [
        r.runs.length ? `${r.runs.length} run(s)` : '',
        r.experiment ? `experiment ${r.experiment}` : '',
        r.registeredModel ? `registered model ${r.registeredModel}` : '',
      ].filter(Boolean);
      log(
        `[recovery] ${record.name} was cut off during "${states.register}": ${removed.length ? `removed ${removed.join(', ')}` : 'nothing to remove'}`,
      );
    } catch (err) {
      log(`[recovery] the registration of ${record.name} could not be rolled back: ${(err as Error).message}`);
    }
  }
}

/**
 * Cleans up the releases a stopped platform cut off (a release waiting for its approval is the
 * usual one: its task token lived in the stopped process, so it can never be approved): what the
 * execution copied and registered is removed as the machine's own "Clean up" step removes it, and
 * the release can simply be started again.
 */
export async function cleanUpInterruptedReleases(
  recovered: readonly ExecutionRecord[],
  machineArn: string,
  target: { readonly registry: MlflowClient; readonly objects: ReleaseObjects },
  log: (line: string) => void,
): Promise<void> {
  for (const record of recovered) {
    if (record.stateMachineArn !== machineArn) continue;
    let model: unknown;
    try {
      model = (JSON.parse(record.input) as { model?: unknown }).model;
    } catch {
      continue;
    }
    if (typeof model !== 'string') continue;
    let prefix: string | undefined;
    for (const e of record.events) {
      const exited = e['stateExitedEventDetails'] as { output?: string } | undefined;
      if (!exited?.output) continue;
      try {
        const p = (JSON.parse(exited.output) as { plan?: { target_prefix?: unknown } }).plan?.target_prefix;
        if (typeof p === 'string') prefix = p;
      } catch {
        // A cut-off record is read as far as it goes.
      }
    }
    try {
      const r = await cleanUpRelease(target.registry, target.objects, { model, execution: record.name, ...(prefix ? { target_prefix: prefix } : {}) });
      log(
        `[recovery] release ${record.name} was cut off by a stop of the platform: ${r.removedVersion ? `removed version ${r.removedVersion} of ${model}` : 'nothing registered'}${r.removedObjects ? `, ${r.removedObjects} copied object(s)` : ''}; start the release again`,
      );
    } catch (err) {
      log(`[recovery] the release ${record.name} could not be cleaned up: ${(err as Error).message}`);
    }
  }
}
