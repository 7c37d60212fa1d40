/**
 * Operations coverage of a whole stage, applied as an Aspect so it reaches resources added by code
 * it has never seen (a new stack, a new state machine, a rule in a construct library):
 *
 * - every CloudWatch alarm (`AWS::CloudWatch::Alarm`, `AWS::CloudWatch::CompositeAlarm`, L2 or
 *   L1) gets the environment's alarm topic as its ALARM and OK action (none when `alarms.enabled`
 *   is false: the alarms still exist, nobody is paged);
 * - every EventBridge rule target and every Scheduler schedule (L2 or `CfnSchedule`) gets a
 *   retry policy and the dead-letter queue of its stack ({@link DeadLetterQueue}, one per stack,
 *   KMS-encrypted, with a depth alarm);
 * - every Lambda function (errors, throttles), state machine (failed, timed out), API Gateway stage
 *   (5xx share, p99 latency), DynamoDB table (read + write throttles) and NLB target group (unhealthy
 *   hosts) gets default alarms, next to it in the tree, thresholds from `alarms.*`.
 *
 * Targets and schedules that already name a dead-letter queue or a retry policy keep theirs.
 *
 * @example
 * Aspects.of(stage).add(new OperationsCoverage({ topic, key, alarms: config.alarms }), { priority: AspectPriority.MUTATING });
 */
import { CfnResource, Duration, type IAspect, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { IConstruct } from 'constructs';
import type { EnvironmentConfig } from '../config';
import { DeadLetterQueue } from './dead-letter-queue';

/** The id of the dead-letter queue construct under each stack that has a rule or a schedule. */
export const DEAD_LETTERS_ID = 'DeadLetters';

/** Delivery retries before a rule's event or a schedule's invocation goes to the dead-letter queue. */
export const TARGET_RETRY = { maximumRetryAttempts: 4, maximumEventAgeInSeconds: 3600 } as const;

export interface OperationsCoverageProps {
  /**
   * Every alarm's ALARM and OK action.
   * @default - no actions (`alarms.enabled: false`)
   */
  readonly topic?: sns.ITopic;
  /** Encrypts the dead-letter queues. */
  readonly key: kms.IKey;
  /** Thresholds and periods (`config.alarms`). */
  readonly alarms: EnvironmentConfig['alarms'];
}

const isType = (node: IConstruct, type: string): node is CfnResource =>
  CfnResource.isCfnResource(node) && node.cfnResourceType === type;

export class OperationsCoverage implements IAspect {
  private readonly covered = new WeakSet<IConstruct>();
  private readonly period: Duration;

  constructor(private readonly props: OperationsCoverageProps) {
    this.period = Duration.minutes(props.alarms.periodMinutes);
  }

  visit(node: IConstruct): void {
    if (this.covered.has(node)) return;
    if (isType(node, 'AWS::CloudWatch::Alarm') || isType(node, 'AWS::CloudWatch::CompositeAlarm')) this.addActions(node);
    else if (isType(node, 'AWS::Lambda::Function')) this.functionAlarms(node as lambda.CfnFunction);
    else if (isType(node, 'AWS::StepFunctions::StateMachine')) this.stateMachineAlarms(node as sfn.CfnStateMachine);
    else if (isType(node, 'AWS::ApiGateway::Stage')) this.apiAlarms(node as apigw.CfnStage);
    else if (isType(node, 'AWS::DynamoDB::Table')) this.tableAlarms(node as dynamodb.CfnTable);
    else if (isType(node, 'AWS::ElasticLoadBalancingV2::TargetGroup')) this.targetGroupAlarms(node);
    else if (isType(node, 'AWS::Events::Rule')) this.ruleDeadLetters(node as events.CfnRule);
    else if (isType(node, 'AWS::Scheduler::Schedule')) this.scheduleDeadLetters(node as scheduler.CfnSchedule);
    this.covered.add(node);
  }

  /** The topic as ALARM and OK action; through the L2 where there is one (it renders its actions lazily). */
  private addActions(cfn: CfnResource): void {
    this.covered.add(cfn);
    const topic = this.props.topic;
    if (!topic) return;
    const owner = cfn.node.scope;
    if (owner instanceof cloudwatch.AlarmBase) {
      const action = new cwActions.SnsAction(topic);
      owner.addAlarmAction(action);
      owner.addOkAction(action);
      return;
    }
    const alarm = cfn as cloudwatch.CfnAlarm;
    const resolved = (list: string[] | undefined) => (Stack.of(cfn).resolve(list ?? []) as unknown[]) ?? [];
    alarm.addPropertyOverride('AlarmActions', [...resolved(alarm.alarmActions), topic.topicArn]);
    alarm.addPropertyOverride('OKActions', [...resolved(alarm.okActions), topic.topicArn]);
  }

  /** A default alarm under `owner`, with the topic as its actions. */
  private alarm(
    owner: IConstruct,
    id: string,
    metric: cloudwatch.IMetric,
    threshold: number,
    description: string,
    statistic?: string,
  ): cloudwatch.Alarm {
    const { evaluationPeriods } = this.props.alarms;
    const alarm = new cloudwatch.Alarm(owner, id, {
      metric: metric instanceof cloudwatch.Metric ? metric.with({ period: this.period, ...(statistic ? { statistic } : {}) }) : metric,
      threshold,
      evaluationPeriods,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    this.addActions(alarm.node.defaultChild as CfnResource);
    return alarm;
  }

  private metric(namespace: string, metricName: string, dimensionsMap: Record<string, string>, statistic = 'Sum') {
    return new cloudwatch.Metric({ namespace, metricName, dimensionsMap, statistic, period: this.period });
  }

  private functionAlarms(fn: lambda.CfnFunction): void {
    const a = this.props.alarms;
    const dims = { FunctionName: fn.ref };
    this.alarm(fn, 'ErrorsAlarm', this.metric('AWS/Lambda', 'Errors', dims), a.lambdaErrors,
      'The function failed invocations (errors or timeouts): its log group has the error and the request id.');
    this.alarm(fn, 'ThrottlesAlarm', this.metric('AWS/Lambda', 'Throttles', dims), a.lambdaThrottles,
      'Invocations were throttled: the function hit its reserved concurrency or the account pool (lambda.reservedConcurrency, accountQuotas).');
  }

  private stateMachineAlarms(machine: sfn.CfnStateMachine): void {
    const dims = { StateMachineArn: machine.ref };
    this.alarm(machine, 'FailedAlarm', this.metric('AWS/States', 'ExecutionsFailed', dims), 1,
      'An execution failed: its history (Step Functions console or `mlops jobs`) names the failed state and its error.');
    this.alarm(machine, 'TimedOutAlarm', this.metric('AWS/States', 'ExecutionsTimedOut', dims), 1,
      'An execution ran past its timeout: a step hung (a training job, an Athena query, a task token never returned).');
  }

  private apiAlarms(stage: apigw.CfnStage): void {
    const a = this.props.alarms;
    const dims = { ApiName: restApiName(stage), Stage: stage.stageName ?? Stack.of(stage).resolve(stage.ref) };
    this.alarm(stage, 'ServerErrorRateAlarm', this.metric('AWS/ApiGateway', '5XXError', dims, 'Average'), a.api5xxRate,
      `More than ${a.api5xxRate * 100}% of the API's requests were answered 5xx: the integration (Lambda, VPC link, NLB) is failing.`);
    this.alarm(stage, 'LatencyP99Alarm', this.metric('AWS/ApiGateway', 'Latency', dims, 'p99'), a.apiP99Ms,
      `The API's p99 latency reached ${a.apiP99Ms} ms.`);
  }

  private tableAlarms(table: dynamodb.CfnTable): void {
    const dims = { TableName: table.ref };
    const throttles = new cloudwatch.MathExpression({
      expression: 'FILL(reads, 0) + FILL(writes, 0)',
      usingMetrics: {
        reads: this.metric('AWS/DynamoDB', 'ReadThrottleEvents', dims),
        writes: this.metric('AWS/DynamoDB', 'WriteThrottleEvents', dims),
      },
      period: this.period,
      label: 'Read + write throttle events',
    });
    this.alarm(table, 'ThrottlesAlarm', throttles, this.props.alarms.dynamoThrottles,
      'Requests to the table were throttled (on-demand tables throttle on sudden spikes and hot partitions).');
  }

  private targetGroupAlarms(cfn: CfnResource): void {
    const group = cfn.node.scope;
    if (!(group instanceof elbv2.NetworkTargetGroup)) return;
    this.alarm(group, 'UnhealthyHostsAlarm', group.metrics.unHealthyHostCount({ statistic: 'Maximum', period: this.period }), 1,
      'Targets of the load balancer failed their health checks: the router pods are not ready (kubectl -n seldon get pods).');
  }

  /** The stack's dead-letter queue, created with the first rule or schedule that needs it. */
  private deadLetters(of: IConstruct): DeadLetterQueue {
    const stack = Stack.of(of);
    const existing = stack.node.tryFindChild(DEAD_LETTERS_ID);
    if (existing instanceof DeadLetterQueue) return existing;
    const dlq = new DeadLetterQueue(stack, DEAD_LETTERS_ID, {
      key: this.props.key,
      alarmThreshold: this.props.alarms.deadLetterMessages,
      period: this.period,
    });
    this.covered.add(dlq.queue.node.defaultChild!);
    this.addActions(dlq.alarm.node.defaultChild as CfnResource);
    return dlq;
  }

  private ruleDeadLetters(rule: events.CfnRule): void {
    // L1 properties resolve in their TypeScript (camelCase) shape.
    const targets = (Stack.of(rule).resolve(rule.targets) ?? []) as { deadLetterConfig?: unknown; retryPolicy?: unknown }[];
    if (targets.length === 0) return;
    const dlq = this.deadLetters(rule);
    dlq.acceptFromRule(rule);
    targets.forEach((target, i) => {
      if (!target.deadLetterConfig) rule.addPropertyOverride(`Targets.${i}.DeadLetterConfig`, { Arn: dlq.queue.queueArn });
      if (!target.retryPolicy) {
        rule.addPropertyOverride(`Targets.${i}.RetryPolicy`, {
          MaximumRetryAttempts: TARGET_RETRY.maximumRetryAttempts,
          MaximumEventAgeInSeconds: TARGET_RETRY.maximumEventAgeInSeconds,
        });
      }
    });
  }

  private scheduleDeadLetters(schedule: scheduler.CfnSchedule): void {
    const stack = Stack.of(schedule);
    const target = stack.resolve(schedule.target) as { roleArn?: unknown; deadLetterConfig?: unknown; retryPolicy?: unknown };
    const dlq = this.deadLetters(schedule);
    dlq.grantSend(roleOf(schedule, target.roleArn));
    if (!target.deadLetterConfig) schedule.addPropertyOverride('Target.DeadLetterConfig', { Arn: dlq.queue.queueArn });
    if (!target.retryPolicy) {
      schedule.addPropertyOverride('Target.RetryPolicy', {
        MaximumRetryAttempts: TARGET_RETRY.maximumRetryAttempts,
        MaximumEventAgeInSeconds: TARGET_RETRY.maximumEventAgeInSeconds,
      });
    }
  }
}

/** The API's name (the `ApiName` dimension): from the stage's L2 REST API, or its `AWS::ApiGateway::RestApi`. */
function restApiName(stage: apigw.CfnStage): string {
  const owner = stage.node.scope;
  if (owner instanceof apigw.Stage) return owner.restApi.restApiName;
  const api = resourceOf(stage, Stack.of(stage).resolve(stage.restApiId));
  const name = (api as apigw.CfnRestApi | undefined)?.name;
  if (!name) {
    throw new Error(`the API Gateway stage at ${stage.node.path} must belong to a REST API of its stack with a name, but none was found`);
  }
  return name;
}

/**
 * The role a schedule runs as, so it can be granted the queue: the L2 role of its stack named by
 * the (resolved) `RoleArn`, else the ARN imported (a policy of the schedule's stack attached to it).
 */
function roleOf(schedule: scheduler.CfnSchedule, roleArn: unknown): iam.IGrantable {
  const owner = resourceOf(schedule, roleArn)?.node.scope;
  if (owner instanceof iam.Role) return owner;
  const arn = (schedule.target as scheduler.CfnSchedule.TargetProperty | undefined)?.roleArn;
  if (typeof arn !== 'string') {
    throw new Error(`the schedule at ${schedule.node.path} must name the role it runs as (Target.RoleArn), but none was provided`);
  }
  return iam.Role.fromRoleArn(schedule, 'DeadLetterSender', arn, { mutable: true });
}

/** The resource of `scope`'s stack a resolved `{ Ref }` or `{ Fn::GetAtt }` names. */
function resourceOf(scope: IConstruct, reference: unknown): CfnResource | undefined {
  const r = reference as { Ref?: string; 'Fn::GetAtt'?: [string, string] } | undefined;
  const logicalId = r?.Ref ?? r?.['Fn::GetAtt']?.[0];
  if (!logicalId) return undefined;
  const stack = Stack.of(scope);
  return stack.node
    .findAll()
    .find((c): c is CfnResource => CfnResource.isCfnResource(c) && stack.resolve(c.logicalId) === logicalId);
}
