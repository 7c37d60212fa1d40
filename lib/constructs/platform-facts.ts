/**
 * Platform facts: what the local platform (`lib/local`) must find in a synthesized stage and
 * cannot tell from resource types alone — which state machine trains, which bucket is the raw
 * zone, the namespace models are served in, the promotion rule — declared by the stacks next to
 * the construct they concern and read back from the cloud assembly.
 *
 * Facts are construct metadata (type {@link FACT_METADATA_TYPE}), not stack outputs: the assembly's
 * manifest carries them while the templates stay as they are (nothing deployed changes, no output
 * quota is spent), and they may hold JSON (an event pattern, an execution input). CDK resolves
 * tokens in metadata in the declaring stack, so a fact names its resource with a `Ref` the local
 * platform resolves to the same local name and ARN as the template's own references.
 *
 * @example
 * declareStateMachine(this.materialization, 'materialization');
 */
import type { IConstruct } from 'constructs';

/** The metadata type facts are recorded under. */
export const FACT_METADATA_TYPE = 'mlops-kit:fact';

/** What a state machine is for, as the local platform starts it. */
export type StateMachineRole = 'training' | 'materialization' | 'batch' | 'quality' | 'release' | 'drift';

/** The lake's zones (see `DataLake`). */
export type BucketRole = 'raw' | 'curated' | 'artifacts' | 'athenaResults';

export interface StateMachineFact {
  readonly fact: 'stateMachine';
  readonly role: StateMachineRole;
  /** The machine's ARN (a `Ref` in the assembly). */
  readonly arn: string;
  /** The input scheduled runs start with, when the machine has one. */
  readonly defaultInput?: Record<string, unknown>;
  /** Names of states others refer to (e.g. the training pipeline's `register` and `rollback`). */
  readonly states?: Readonly<Record<string, string>>;
}

export interface BucketFact {
  readonly fact: 'bucket';
  readonly role: BucketRole;
  /** The bucket's name (a `Ref` in the assembly). */
  readonly name: string;
}

export interface ServingFact {
  readonly fact: 'serving';
  /** The Kubernetes namespace promoted models are deployed to. */
  readonly namespace: string;
  /** The prediction API's routes, in API Gateway's path syntax (`/v2/{proxy+}`). */
  readonly routes: readonly string[];
  /** The bus promotions are published on (a `Ref` in the assembly). */
  readonly eventBusName: string;
  /** The EventBridge pattern of promotions that deploy a model, as CloudFormation renders it. */
  readonly promotionEventPattern: Record<string, unknown>;
}

export type PlatformFact = StateMachineFact | BucketFact | ServingFact;

/** Records `fact` on `scope` (the construct it is about). */
export function declareFact(scope: IConstruct, fact: PlatformFact): void {
  scope.node.addMetadata(FACT_METADATA_TYPE, fact);
}

/** Declares the role of a state machine construct (an `MlopsStateMachine` or anything holding one). */
export function declareStateMachine(
  machine: IConstruct & { readonly stateMachine: { readonly stateMachineArn: string } },
  role: StateMachineRole,
  extra: Pick<StateMachineFact, 'defaultInput' | 'states'> = {},
): void {
  declareFact(machine, { fact: 'stateMachine', role, arn: machine.stateMachine.stateMachineArn, ...extra });
}

type Bucket = IConstruct & { readonly bucketName: string };

/** Declares the lake's zones (a `DataLake`). */
export function declareLakeBuckets(lake: Readonly<Record<BucketRole, Bucket>>): void {
  for (const role of ['raw', 'curated', 'artifacts', 'athenaResults'] as const) {
    declareFact(lake[role], { fact: 'bucket', role, name: lake[role].bucketName });
  }
}

/**
 * Declares how models are served: namespace, routes, and the promotion rule's pattern (given in
 * CDK's `events.EventPattern` form, rendered as the `AWS::Events::Rule` renders it) on `bus`, the
 * event bus the registry publishes promotions on. Recorded on the bus: in `local` there is no
 * serving stack, and the local platform's stand-in for it listens there.
 */
export function declareServing(
  bus: IConstruct & { readonly eventBusName: string },
  serving: { namespace: string; routes: readonly string[]; promotion: object },
): void {
  declareFact(bus, {
    fact: 'serving',
    namespace: serving.namespace,
    routes: [...serving.routes],
    eventBusName: bus.eventBusName,
    promotionEventPattern: renderEventPattern(serving.promotion),
  });
}

/** CDK's rendering (aws-events `renderEventPattern`, not exported): `detailType` becomes `detail-type`. */
function renderEventPattern(pattern: object): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(pattern)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k === 'detailType' ? 'detail-type' : k, v]),
  );
}
