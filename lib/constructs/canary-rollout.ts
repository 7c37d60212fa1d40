/**
 * The canary rollout of a promoted model version: an EventBridge rule on the registry's
 * promotions (stage Production or alias champion) starts a state machine that asks the deployer
 * to apply the version, waits until its pods are available, routes traffic to it, and — for a
 * canary — waits out the window, reads the `CanaryHealth` composite alarm and promotes the canary
 * or rolls it back. Steps and reasons: `lib/serving-infra/README.md` (Canary).
 *
 * Its alarms, state machine and rule are created in `scope`, beside this construct rather than
 * under it, so they keep the construct paths, logical ids and alarm names they had before the
 * serving stack was split into constructs (a replaced state machine would stop running rollouts).
 * One `CanaryRollout` per scope.
 *
 * @example
 * new CanaryRollout(this, 'Rollout', {
 *   deployer: deployer.function,
 *   errorRate: api.metricServerErrorRate(),
 *   latencyP99: api.metricLatencyP99(),
 *   canaryTrafficPercent: 10,
 *   eventBus: registry.eventBus,
 * });
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { PROMOTION_DETAIL_TYPE, PROMOTION_EVENT_SOURCE } from '../registry/events';
import type { MlopsFunction } from './mlops-function';
import { MlopsStateMachine } from './mlops-state-machine';
import { INLINE_POLICY_REASON } from './nag';
import { integerIn, PropsError } from './validate-props';
import type { LogGroupOptions } from './log-group-options';

export interface CanaryRolloutProps extends LogGroupOptions {
  /** The serving deployer function: every step (apply, status, route, promote, rollback) invokes it. */
  readonly deployer: MlopsFunction;
  /** Share (0–1) of failed predictions per period: the canary's first health signal. */
  readonly errorRate: cloudwatch.IMetric;
  /** p99 prediction latency in milliseconds per period: the second health signal. */
  readonly latencyP99: cloudwatch.IMetric;
  /**
   * The canary's share of traffic (0–100); the error alarm trips at half of it (at least 1 %).
   * @default 10
   */
  readonly canaryTrafficPercent?: number;
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

export class CanaryRollout extends Construct {
  /** ALARM rolls the canary back at the end of the window. */
  readonly alarm: cloudwatch.CompositeAlarm;
  readonly stateMachine: MlopsStateMachine;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: CanaryRolloutProps) {
    super(scope, id);
    const canaryPercent = props.canaryTrafficPercent ?? 10;
    const window = props.window ?? Duration.minutes(10);
    integerIn('CanaryRollout canaryTrafficPercent', canaryPercent, 0, 100);
    if (window.toSeconds() < 60 || window.toSeconds() > MAX_WINDOW.toSeconds()) {
      throw new PropsError(
        `CanaryRollout window must be from 1 minute to ${MAX_WINDOW.toHumanString()}, but ${window.toHumanString()} was provided`,
      );
    }
    this.alarm = canaryAlarm(scope, props, canaryPercent);
    this.stateMachine = new MlopsStateMachine(scope, 'Canary', {
      definition: this.definition(props.deployer.function, window),
      comment: 'Roll out a promoted model version: canary, watch the alarm, promote or roll back',
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
    this.acknowledgeFindings(scope);
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
    const apply = step('Apply', { action: 'apply', detail: sfn.JsonPath.objectAt('$.detail') }, '$.deploy');
    const available = step('WaitUntilAvailable', { action: 'status', deployment }, '$.status');
    // The deployer throws NotReady until the operator reports the pods available (up to 10 min).
    available.addRetry({ errors: ['NotReady'], interval: Duration.seconds(15), maxAttempts: 40, backoffRate: 1 });
    const route = step('Route', { action: 'route' }, '$.route');
    const wait = new sfn.Wait(this, 'CanaryWindow', { time: sfn.WaitTime.duration(window) });
    const check = new tasks.CallAwsService(this, 'CheckCanaryAlarm', {
      service: 'cloudwatch',
      action: 'describeAlarms',
      parameters: { AlarmNames: [this.alarm.alarmName], AlarmTypes: ['CompositeAlarm'] },
      iamAction: 'cloudwatch:DescribeAlarms',
      iamResources: [this.alarm.alarmArn],
      resultSelector: { 'state.$': '$.CompositeAlarms[0].StateValue' },
      resultPath: '$.alarm',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(1)),
    });
    const promote = step('Promote', { action: 'promote', deployment }, '$.result');
    const rollback = step('Rollback', { action: 'rollback', deployment }, '$.result').next(
      new sfn.Fail(this, 'CanaryRolledBack', {
        error: 'CanaryRolledBack',
        cause: 'The canary alarm was in ALARM at the end of the canary window; the stable version serves 100 %.',
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

  private acknowledgeFindings(scope: Construct): void {
    const eventsRole = this.stateMachine.stateMachine.node.tryFindChild('EventsRole');
    if (eventsRole !== undefined) {
      Validations.of(eventsRole).acknowledge({ id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: INLINE_POLICY_REASON });
    }
    for (const id of ['CanaryErrors', 'CanaryLatency']) {
      const child = scope.node.tryFindChild(id);
      if (child === undefined) continue;
      Validations.of(child).acknowledge({
        id: 'NIST.800.53.R5-CloudWatchAlarmAction',
        reason:
          'This alarm feeds the CanaryHealth composite alarm, whose state the canary state machine reads to promote or roll back; it notifies no one by design.',
      });
    }
    Validations.of(this.alarm).acknowledge({
      id: 'NIST.800.53.R5-CloudWatchAlarmAction',
      reason:
        'The canary state machine reads this alarm state at the end of each canary window and rolls back on ALARM: the action is the rollback, not a notification.',
    });
  }
}

/** 5XX share or p99 latency of the prediction API during the canary window. */
function canaryAlarm(scope: Construct, props: CanaryRolloutProps, canaryPercent: number): cloudwatch.CompositeAlarm {
  // A canary failing every request moves the stage's error rate by its share; alarm at half of it
  // (at least 1 %), so a broken canary trips it and ordinary noise on the stable version does not.
  const errorThreshold = Math.max(0.01, canaryPercent / 200);
  const errors = new cloudwatch.Alarm(scope, 'CanaryErrors', {
    alarmDescription: `Prediction 5XX rate above ${(errorThreshold * 100).toFixed(1)} % (canary share ${canaryPercent} %)`,
    metric: props.errorRate,
    threshold: errorThreshold,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 3,
    datapointsToAlarm: 2,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  const latency = new cloudwatch.Alarm(scope, 'CanaryLatency', {
    alarmDescription: 'Prediction p99 latency above 1 s',
    metric: props.latencyP99,
    threshold: 1000,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 3,
    datapointsToAlarm: 2,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  return new cloudwatch.CompositeAlarm(scope, 'CanaryHealth', {
    alarmDescription: 'The canary is unhealthy: roll it back',
    alarmRule: cloudwatch.AlarmRule.anyOf(errors, latency),
  });
}

/** The event pattern of promotions the deployer rolls out. */
export function promotionEventPattern(): events.EventPattern {
  return {
    source: [PROMOTION_EVENT_SOURCE],
    detailType: [PROMOTION_DETAIL_TYPE],
    detail: { $or: [{ stage: ['Production'] }, { alias: ['champion'] }] },
  };
}
