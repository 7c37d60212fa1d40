/**
 * The platform facts of a synthesized stage (see `lib/constructs/platform-facts.ts`): which state
 * machine trains, which bucket is the raw zone, where and how models are served. Read from the
 * assembly's construct metadata, with their `Ref`s resolved to the local names and ARNs, so the
 * local platform finds what the stacks declare instead of guessing from names and paths.
 *
 * A fact the assembly lacks fails with a sentence naming it: an assembly synthesized by another
 * version of the kit, or a stack that lost its declaration.
 *
 * @example
 * const facts = readFacts(stage);
 * facts.stateMachine('training').arn; // 'arn:aws:states:us-east-1:000000000000:stateMachine:…'
 */
import {
  type BucketFact,
  type BucketRole,
  FACT_METADATA_TYPE,
  type PlatformFact,
  type ServingFact,
  type StateMachineFact,
  type StateMachineRole,
} from '../constructs/platform-facts';
import type { LocalStage } from './assembly';

export type { BucketRole, ServingFact, StateMachineFact, StateMachineRole };

interface Lookups<Missing> {
  stateMachine(role: StateMachineRole): StateMachineFact | Missing;
  /** The bucket's local name. */
  bucket(role: BucketRole): string | Missing;
  serving(): ServingFact | Missing;
}

/** Each lookup throws a {@link MissingFactError} naming what the assembly does not declare. */
export interface PlatformFacts extends Lookups<never> {
  /** The same lookups, undefined where nothing declares the fact (an assembly not built by the kit's stacks). */
  readonly optional: Lookups<undefined>;
}

/** Thrown when the assembly does not declare a fact the local platform needs. */
export class MissingFactError extends Error {
  override readonly name = 'MissingFactError';
}

export function readFacts(stage: LocalStage): PlatformFacts {
  const facts = stage.constructMetadata
    .filter((m) => m.type === FACT_METADATA_TYPE)
    .map((m) => ({ fact: stage.resolve(m.stackName, m.data) as PlatformFact, where: m.constructPath }));
  const find = <F extends PlatformFact>(what: string, test: (f: PlatformFact) => f is F, required: boolean) => {
    const found = facts.filter((f) => test(f.fact));
    if (found.length === 1) return found[0]!.fact as F;
    if (found.length === 0 && !required) return undefined;
    if (found.length > 1) {
      throw new MissingFactError(
        `The cloud assembly in ${stage.assemblyDir} must declare one ${what}, but ${found.length} constructs declare it: ${found.map((f) => f.where).join(', ')}`,
      );
    }
    throw new MissingFactError(
      `The cloud assembly in ${stage.assemblyDir} declares no ${what}: no construct of stage '${stage.stageName}' carries '${FACT_METADATA_TYPE}' metadata for it (see lib/constructs/platform-facts.ts; synthesize again with \`npx mlops up --synth\`)`,
    );
  };
  const lookups = (required: boolean) => ({
    stateMachine: (role: StateMachineRole) =>
      find(`${role} state machine`, (f): f is StateMachineFact => f.fact === 'stateMachine' && f.role === role, required),
    bucket: (role: BucketRole) =>
      find(`${role} bucket`, (f): f is BucketFact => f.fact === 'bucket' && f.role === role, required)?.name,
    serving: () =>
      find('serving (namespace, routes, promotion rule)', (f): f is ServingFact => f.fact === 'serving', required),
  });
  return { ...(lookups(true) as Lookups<never>), optional: lookups(false) };
}
