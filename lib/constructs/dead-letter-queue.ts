/**
 * A dead-letter queue for the EventBridge rule targets and Scheduler schedules of one stack: SQS,
 * encrypted with the operations key, TLS only, messages kept 14 days (SQS's longest), and an alarm
 * on its depth, since a message here is an event or a scheduled run that never reached its target.
 * `OperationsCoverage` creates one per stack that has a rule or a schedule and wires every target to it.
 *
 * @example
 * const dlq = new DeadLetterQueue(stack, 'DeadLetters', { key, alarmThreshold: 1, period: Duration.minutes(5) });
 * dlq.acceptFromRule(rule);            // EventBridge sends as its service, for this rule only
 * dlq.grantSend(scheduleRole);         // Scheduler sends with the schedule's role
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { grantKeyVia } from './binding';
import { integerIn } from './validate-props';

export interface DeadLetterQueueProps {
  readonly key: kms.IKey;
  /** Visible messages at which the depth alarm fires. */
  readonly alarmThreshold: number;
  /** The alarm's evaluation period. */
  readonly period: Duration;
}

export class DeadLetterQueue extends Construct {
  readonly queue: sqs.Queue;
  /** Fires when messages wait in the queue; its action is the environment's alarm topic. */
  readonly alarm: cloudwatch.Alarm;
  private readonly key: kms.IKey;

  constructor(scope: Construct, id: string, props: DeadLetterQueueProps) {
    super(scope, id);
    integerIn('DeadLetterQueue alarmThreshold', props.alarmThreshold, 1);
    this.key = props.key;
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of EventBridge rule targets and Scheduler schedules (their DeadLetterConfig, which cdk-nag does not read); its depth alarm is the escalation.',
    });
    this.alarm = new cloudwatch.Alarm(this, 'DepthAlarm', {
      alarmDescription:
        'Events or scheduled runs that never reached their target are waiting in this dead-letter queue: read them (the SQS message attributes name the rule or schedule and the error), fix the cause, and redrive or start them by hand.',
      metric: this.queue.metricApproximateNumberOfMessagesVisible({ period: props.period, statistic: 'Maximum' }),
      threshold: props.alarmThreshold,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** EventBridge delivers a rule's failed events as its service: allowed for `rule` only. */
  acceptFromRule(rule: events.CfnRule): void {
    this.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sqs:SendMessage'],
        resources: [this.queue.queueArn],
        conditions: { ArnEquals: { 'aws:SourceArn': rule.attrArn } },
      }),
    );
  }

  /** Scheduler sends a schedule's failed invocations with the schedule's own role. */
  grantSend(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.queue.queueArn] }),
    );
    grantKeyVia(grantee, this.key.keyArn, ['kms:GenerateDataKey', 'kms:Decrypt'], 'sqs');
  }
}
