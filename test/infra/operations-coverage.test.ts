/**
 * `OperationsCoverage` on resources it has never seen: a stage of hand-made L1 and L2 resources
 * (as another change would add them) gets alarms with actions and dead-letter queues, and nothing
 * else; with alarms disabled the alarms exist without actions.
 */
import { App, AspectPriority, Aspects, Duration, Stack, Stage } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { describe, expect, it } from 'vitest';
import { resolveEnvironment } from '../../lib/config';
import { OperationsCoverage, TARGET_RETRY } from '../../lib/constructs/operations-coverage';
import { AlarmsStack } from '../../stacks/alarms-stack';

/** A stage with an operations stack and a stack of resources written without any monitoring. */
function build(enabled: boolean) {
  const app = new App();
  const stage = new Stage(app, 'test', { env: { account: '111122223333', region: 'eu-west-1' } });
  const ops = new Stack(stage, 'Ops');
  const key = new kms.Key(ops, 'Key');
  const topic = new sns.Topic(ops, 'Topic');
  const s = new Stack(stage, 'Unseen');
  const fn = new lambda.CfnFunction(s, 'RawFunction', {
    code: { zipFile: 'exports.handler = async () => {}' },
    role: 'arn:aws:iam::111122223333:role/x',
    runtime: 'nodejs20.x',
    handler: 'index.handler',
  });
  const machine = new sfn.StateMachine(s, 'Machine', { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(s, 'Pass')) });
  const bus = new events.EventBus(s, 'Bus');
  new events.Rule(s, 'Rule', { eventBus: bus, eventPattern: { source: ['x'] }, targets: [new eventTargets.SfnStateMachine(machine)] });
  const role = new iam.Role(s, 'ScheduleRole', { assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com') });
  new scheduler.CfnSchedule(s, 'RawSchedule', {
    scheduleExpression: 'rate(1 hour)',
    flexibleTimeWindow: { mode: 'OFF' },
    target: { arn: machine.stateMachineArn, roleArn: role.roleArn, retryPolicy: { maximumRetryAttempts: 1 } },
  });
  // A schedule running as a role of another stack, by ARN.
  const foreign = new iam.Role(ops, 'ForeignRole', { assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com') });
  new scheduler.CfnSchedule(s, 'ForeignRoleSchedule', {
    scheduleExpression: 'rate(1 day)',
    flexibleTimeWindow: { mode: 'OFF' },
    target: { arn: machine.stateMachineArn, roleArn: foreign.roleArn },
  });
  new cloudwatch.CfnAlarm(s, 'RawAlarm', {
    comparisonOperator: 'GreaterThanThreshold',
    evaluationPeriods: 1,
    threshold: 1,
    metricName: 'M',
    namespace: 'N',
    period: 60,
    statistic: 'Sum',
    alarmActions: ['arn:aws:sns:eu-west-1:111122223333:existing'],
  });
  const alarms = { ...resolveEnvironment('staging', { env: {} }).alarms, enabled };
  Aspects.of(stage).add(new OperationsCoverage({ topic: enabled ? topic : undefined, key, alarms }), { priority: AspectPriority.MUTATING });
  app.synth();
  return { template: Template.fromStack(s), fn, topicRef: s.resolve(topic.topicArn) };
}

describe('OperationsCoverage', () => {
  const { template } = build(true);
  const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as { Properties: Record<string, unknown> }[];
  const metrics = alarms.map((a) => a.Properties['MetricName']);

  it('adds default alarms to an L1 function and an L2 state machine it was never told about', () => {
    expect(metrics).toEqual(expect.arrayContaining(['Errors', 'Throttles', 'ExecutionsFailed', 'ExecutionsTimedOut']));
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'RawFunction' } }],
      Period: Duration.minutes(5).toSeconds(),
    });
  });

  it('gives every alarm, its own and one with actions already, the topic as ALARM and OK action', () => {
    expect(alarms.length).toBe(6); // 2 function, 2 machine, the queue's depth, the raw one
    for (const a of alarms) {
      expect(JSON.stringify(a.Properties['AlarmActions'])).toMatch(/ImportValue.*Topic/);
      expect(JSON.stringify(a.Properties['OKActions'])).toMatch(/ImportValue.*Topic/);
    }
    const raw = template.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'M' } });
    expect(JSON.stringify(raw)).toContain('arn:aws:sns:eu-west-1:111122223333:existing');
  });

  it('sends failed rule deliveries and schedule invocations to one encrypted queue of the stack, keeping a retry policy it was given', () => {
    template.resourceCountIs('AWS::SQS::Queue', 1);
    const [queueId] = Object.keys(template.findResources('AWS::SQS::Queue'));
    template.hasResourceProperties('AWS::SQS::Queue', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [Match.objectLike({
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: TARGET_RETRY.maximumRetryAttempts, MaximumEventAgeInSeconds: TARGET_RETRY.maximumEventAgeInSeconds },
      })],
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({ DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } }, RetryPolicy: { MaximumRetryAttempts: 1 } }),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({ DeadLetterConfig: { Arn: { 'Fn::GetAtt': [queueId, 'Arn'] } }, RetryPolicy: { MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 3600 } }),
    });
    // Each schedule's role (the other stack's too, through a policy here) may send to the queue, and use its key only through SQS.
    const sending = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p).includes('sqs:SendMessage'));
    expect(sending).toHaveLength(2);
    expect(JSON.stringify(sending)).toContain('ImportValue');
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('sqs:SendMessage');
    expect(policies).toContain('sqs.eu-west-1.amazonaws.com');
  });

  it('with alarms disabled, creates the same alarms with no actions at all', () => {
    const off = build(false).template;
    const quiet = Object.values(off.findResources('AWS::CloudWatch::Alarm')) as { Properties: Record<string, unknown> }[];
    expect(quiet.length).toBe(6);
    for (const a of quiet.filter((q) => q.Properties['MetricName'] !== 'M')) {
      expect(a.Properties['AlarmActions'] ?? []).toEqual([]);
      expect(a.Properties['OKActions'] ?? []).toEqual([]);
    }
  });
});

describe('operations config', () => {
  const fails = (name: 'local' | 'staging', overrides: object) => () => resolveEnvironment(name, { env: {}, overrides: { [name]: overrides } });

  it('fails if a threshold is out of range, naming it', () => {
    expect(fails('staging', { alarms: { api5xxRate: 2 } })).toThrow(/alarms\.api5xxRate: alarms\.api5xxRate must be a share between 0 and 1/);
    expect(fails('staging', { alarms: { apiP99Ms: 60_000 } })).toThrow(/alarms\.apiP99Ms/);
  });

  it("fails if local is set to notify, which has no alarm topic", () => {
    expect(fails('local', { pipelines: { retraining: 'notify' } })).toThrow(
      "pipelines.retraining must be 'auto' or 'off' in local (it has no alarm topic to notify), but 'notify' was provided",
    );
  });

  it('fails if the outbox flush schedule is not a rate', () => {
    expect(fails('staging', { registry: { outboxFlushSchedule: 'cron(0 * * * ? *)' } })).toThrow(/registry\.outboxFlushSchedule must be a rate/);
  });
});

describe('AlarmsStack', () => {
  it("subscribes alarms.email to the topic, and nobody when it is unset", () => {
    const synth = (email?: string) => {
      const app = new App();
      const config = resolveEnvironment('staging', { env: {}, overrides: { staging: { alarms: email ? { email } : {} } } });
      return Template.fromStack(new AlarmsStack(app, 'Alarms', { config }));
    };
    synth('oncall@example.com').hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
    synth().resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('fails if alarms.email is not an address', () => {
    expect(() => resolveEnvironment('staging', { env: {}, overrides: { staging: { alarms: { email: 'oncall' } } } })).toThrow(/alarms\.email/);
  });
});
