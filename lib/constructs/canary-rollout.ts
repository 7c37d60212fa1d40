/**
 * The canary rollout of a promoted model version: an EventBridge rule on the registry's
 * promotions (stage Production or alias champion) starts a state machine that asks the deployer
 * to apply the version, waits until its pods are available, routes traffic to it, and — for a
 * canary — waits out the window, asks the deployer for the verdict of the canary version's own
 * alarms (which the deployer created when the canary started: `lib/serving-infra/canary-alarms.ts`)
 * and promotes the canary or rolls it back. Steps and reasons: `lib/serving-infra/README.md` (Canary).
 *
 * No alarm lives in the template: a stage-wide alarm would judge every canary by every model's
 * traffic (two concurrent canaries rolled each other back), and the versions to watch are known
 * only at promotion time.
 *
 * Its state machine and rule are created in `scope`, beside this construct rather than under it,
 * so they keep the construct paths and logical ids they had before the serving stack was split
 * into constructs (a replaced state machine would stop running rollouts). One `CanaryRollout` per scope.
 *
 * @example
 * new CanaryRollout(this, 'Rollout', { deployer: deployer.function, eventBus: registry.eventBus });
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { PROMOTION_DETAIL_TYPE, PROMOTION_EVENT_SOURCE } from '../registry/events';
import type { MlopsFunction } from './mlops-function';
import { MlopsStateMachine } from './mlops-state-machine';
import { complianceAcks, INLINE_POLICY_REASON } from './nag';
import { PropsError } from './validate-props';
import type { LogGroupOptions } from './log-group-options';

export interface CanaryRolloutProps extends LogGroupOptions {
  /** The serving deployer function: every step (apply, status, route, check, promote, rollback) invokes it. */
  readonly deployer: MlopsFunction;
  /**
   * How long a canary serves its share before the alarm decides between promotion and rollback.
   * @default Duration.minutes(10)
   */
  readonly window?: Duration;
  /**
   * The bus the registry publishes promotion events on.
   * @default - the account's default event bus
   */
  readonly eventBus?: events.IEventBus;
}

/** The longest canary window: the execution also waits for pods (up to 10 min) and times out at 2 h. */
const MAX_WINDOW = Duration.hours(1);

/**
 * How long the router takes, at most, to serve a changed route shard: the kubelet refreshes a
 * projected ConfigMap volume within its sync period (60 s by default) plus its cache TTL, and the
 * reloader looks every 5 s (`RELOAD_INTERVAL_SECONDS`).
 */
export const ROUTER_SETTLE = Duration.seconds(90);

export class CanaryRollout extends Construct {
  readonly stateMachine: MlopsStateMachine;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: CanaryRolloutProps) {
    super(scope, id);
    const window = props.window ?? Duration.minutes(10);
    if (window.toSeconds() < 60 || window.toSeconds() > MAX_WINDOW.toSeconds()) {
      throw new PropsError(
        `CanaryRollout window must be from 1 minute to ${MAX_WINDOW.toHumanString()}, but ${window.toHumanString()} was provided`,
      );
    }
    this.stateMachine = new MlopsStateMachine(scope, 'Canary', {
      definition: this.definition(props.deployer.function, window),
      comment: "Roll out a promoted model version: canary, read its own alarms, promote or roll back",
      timeout: Duration.hours(2),
      logRetention: props.logRetention,
      logsEncryptionKey: props.logsEncryptionKey,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
    this.rule = new events.Rule(scope, 'OnPromotion', {
      description: 'A model version entered Production or became champion: roll it out as a canary',
      eventBus: props.eventBus,
      eventPattern: promotionEventPattern(),
      targets: [new targets.SfnStateMachine(this.stateMachine.stateMachine)],
    });
    this.stateMachine.acknowledgeInvoke([props.deployer]);
    this.acknowledgeFindings();
  }

  private definition(fn: lambda.IFunction, window: Duration): sfn.IChainable {
    const step = (id: string, payload: Record<string, unknown>, resultPath: string) =>
      new tasks.LambdaInvoke(this, id, {
        lambdaFunction: fn,
        payload: sfn.TaskInput.fromObject(payload),
        payloadResponseOnly: true,
        resultPath,
        taskTimeout: sfn.Timeout.duration(Duration.minutes(2)),
      });
    const deployment = sfn.JsonPath.stringAt('$.deploy.deployment');
    const version = sfn.JsonPath.stringAt('$.deploy.canaryVersion');
    const apply = step('Apply', { action: 'apply', detail: sfn.JsonPath.objectAt('$.detail') }, '$.deploy');
    const available = step('WaitUntilAvailable', { action: 'status', deployment }, '$.status');
    // The deployer throws NotReady until the operator reports the pods available (up to 10 min).
    available.addRetry({ errors: ['NotReady'], interval: Duration.seconds(15), maxAttempts: 40, backoffRate: 1 });
    // Only the deployment's route shard (lib/serving-infra/route-shards.ts).
    const route = step('Route', { action: 'route', deployment }, '$.route');
    const wait = new sfn.Wait(this, 'CanaryWindow', { time: sfn.WaitTime.duration(window) });
    // The canary version's own alarms, read by the deployer (which created them at Apply).
    const check = step('CheckCanaryAlarms', { action: 'check', deployment, version }, '$.alarm');
    // Routes first; the old predictor goes only once the router has reloaded them (ROUTER_SETTLE).
    const settle = (id: string) => new sfn.Wait(this, id, { time: sfn.WaitTime.duration(ROUTER_SETTLE) });
    const promote = step('PromoteRoutes', { action: 'promote', deployment, version, routesOnly: true }, '$.result')
      .next(settle('RouterReloadsPromotion'))
      .next(step('Promote', { action: 'promote', deployment, version }, '$.result'));
    const rollback = step('RollbackRoutes', { action: 'rollback', deployment, version, routesOnly: true }, '$.result')
      .next(settle('RouterReloadsRollback'))
      .next(step('Rollback', { action: 'rollback', deployment, version }, '$.result')).next(
      new sfn.Fail(this, 'CanaryRolledBack', {
        error: 'CanaryRolledBack',
        cause: "The canary version's alarms were in ALARM at the end of the canary window; the stable version serves 100 %.",
      }),
    );
    const decide = new sfn.Choice(this, 'CanaryHealthy')
      .when(sfn.Condition.stringEquals('$.alarm.state', 'ALARM'), rollback)
      .otherwise(promote);
    const afterRoute = new sfn.Choice(this, 'IsCanary')
      .when(sfn.Condition.stringEquals('$.deploy.plan', 'canary'), wait.next(check).next(decide))
      .otherwise(new sfn.Succeed(this, 'Deployed'));
    return apply.next(
      new sfn.Choice(this, 'AnythingToDo')
        .when(sfn.Condition.stringEquals('$.deploy.plan', 'none'), new sfn.Succeed(this, 'AlreadyServed'))
        .otherwise(available.next(route).next(afterRoute)),
    );
  }

  private acknowledgeFindings(): void {
    const eventsRole = this.stateMachine.stateMachine.node.tryFindChild('EventsRole');
    if (eventsRole !== undefined) {
      Validations.of(eventsRole).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
    }
  }
}

/** The event pattern of promotions the deployer rolls out. */
export function promotionEventPattern(): events.EventPattern {
  return {
    source: [PROMOTION_EVENT_SOURCE],
    detailType: [PROMOTION_DETAIL_TYPE],
    detail: { $or: [{ stage: ['Production'] }, { alias: ['champion'] }] },
  };
}
