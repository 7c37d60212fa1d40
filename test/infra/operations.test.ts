/**
 * Operations coverage of the staging and production templates, found by walking them: every
 * alarm notifies the alarm topic; every Lambda function, state machine, API stage, DynamoDB table
 * and target group has its default alarms; every EventBridge rule target and Scheduler schedule has
 * a retry policy and a KMS-encrypted dead-letter queue with a depth alarm; one dashboard graphs
 * every function, machine and table; the registry outbox flush is scheduled; the retraining rule
 * follows `pipelines.retraining`. A resource another change adds without coverage fails here.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { resolveEnvironment } from '../../lib/config';
import { DRIFT_EVENT, QUALITY_EVENT } from '../../lib/shared/operations';
import { synthAll } from './synth';

type Resource = { Type: string; Properties: Record<string, unknown> };
interface Found {
  readonly stack: string;
  readonly id: string;
  readonly resource: Resource;
}

const MONITORED = ['staging', 'production'] as const;

function resourcesOf(templates: Record<string, Template>, type: string): Found[] {
  return Object.entries(templates).flatMap(([stack, t]) =>
    Object.entries(t.findResources(type)).map(([id, resource]) => ({ stack, id, resource: resource as Resource })),
  );
}

/** The alarm's metric dimensions (its own, or those of the metrics of its math expression). */
function dimensionsOf(alarm: Resource): { Name: string; Value: unknown }[] {
  const p = alarm.Properties as {
    Dimensions?: { Name: string; Value: unknown }[];
    Metrics?: { MetricStat?: { Metric: { Dimensions?: { Name: string; Value: unknown }[] } } }[];
  };
  return [...(p.Dimensions ?? []), ...(p.Metrics ?? []).flatMap((m) => m.MetricStat?.Metric.Dimensions ?? [])];
}

function metricNamesOf(alarm: Resource): string[] {
  const p = alarm.Properties as { MetricName?: string; Metrics?: { MetricStat?: { Metric: { MetricName: string } } }[] };
  return [p.MetricName, ...(p.Metrics ?? []).map((m) => m.MetricStat?.Metric.MetricName)].filter((n): n is string => !!n);
}

describe.each(MONITORED)('operations coverage in %s', (name) => {
  const { templates } = synthAll()[name];
  const config = resolveEnvironment(name, { env: {} });
  const alarms = [...resourcesOf(templates, 'AWS::CloudWatch::Alarm'), ...resourcesOf(templates, 'AWS::CloudWatch::CompositeAlarm')];
  const topicId = Object.keys(templates['Alarms']!.findResources('AWS::SNS::Topic'))[0]!;
  /** The topic, as the alarm's own stack refers to it (an import of the Alarms stack's export). */
  const isAlarmTopic = (action: unknown) => JSON.stringify(action).includes(`Ref${topicId}`);
  /** Alarms of a stack watching `dimension` = { Ref: id }. */
  const alarmsOn = (stack: string, dimension: string, value: unknown) =>
    alarms.filter((a) => a.stack === stack && dimensionsOf(a.resource).some((d) => d.Name === dimension && JSON.stringify(d.Value) === JSON.stringify(value)));

  it('has a KMS-encrypted alarm topic with the kit key, TLS-only', () => {
    const topic = templates['Alarms']!.findResources('AWS::SNS::Topic')[topicId] as Resource;
    expect(topic.Properties['KmsMasterKeyId']).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Key/), 'Arn'] });
    const [policy] = Object.values(templates['Alarms']!.findResources('AWS::SNS::TopicPolicy')) as Resource[];
    const statements = (policy!.Properties['PolicyDocument'] as { Statement: { Effect: string; Condition?: unknown }[] }).Statement;
    expect(statements).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    // Without a key grant, CloudWatch and EventBridge cannot publish to an encrypted topic (or
    // EventBridge to an encrypted dead-letter queue), and their messages are dropped silently.
    const key = Object.values(templates['Alarms']!.findResources('AWS::KMS::Key'))[0] as Resource;
    const keyStatements = JSON.stringify((key.Properties['KeyPolicy'] as { Statement: unknown[] }).Statement);
    for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com']) expect(keyStatements).toContain(service);
    expect(key.Properties['EnableKeyRotation']).toBe(true);
  });

  it('gives every alarm of the stage the alarm topic as its ALARM and OK action', () => {
    expect(alarms.length).toBeGreaterThan(30);
    for (const a of alarms) {
      const p = a.resource.Properties as { AlarmActions?: unknown[]; OKActions?: unknown[] };
      expect(p.AlarmActions?.some(isAlarmTopic), `${a.stack}/${a.id} alarm action`).toBe(true);
      expect(p.OKActions?.some(isAlarmTopic), `${a.stack}/${a.id} OK action`).toBe(true);
    }
  });

  it('has errors and throttles alarms on every Lambda function', () => {
    const functions = resourcesOf(templates, 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(10);
    for (const f of functions) {
      const on = alarmsOn(f.stack, 'FunctionName', { Ref: f.id }).flatMap((a) => metricNamesOf(a.resource));
      expect(on.sort(), `${f.stack}/${f.id}`).toEqual(expect.arrayContaining(['Errors', 'Throttles']));
    }
  });

  it('has failed and timed-out alarms on every state machine', () => {
    const machines = resourcesOf(templates, 'AWS::StepFunctions::StateMachine');
    expect(machines.length).toBeGreaterThanOrEqual(4);
    for (const m of machines) {
      const on = alarmsOn(m.stack, 'StateMachineArn', { Ref: m.id }).flatMap((a) => metricNamesOf(a.resource));
      expect(on, `${m.stack}/${m.id}`).toEqual(expect.arrayContaining(['ExecutionsFailed', 'ExecutionsTimedOut']));
    }
  });

  it('has 5xx-share and p99-latency alarms on every API, at the configured thresholds', () => {
    const stages = resourcesOf(templates, 'AWS::ApiGateway::Stage');
    expect(stages.map((s) => s.stack).sort()).toEqual(['FeatureStore', 'Registry', 'Serving']);
    for (const s of stages) {
      const [apiId, api] = Object.entries(templates[s.stack]!.findResources('AWS::ApiGateway::RestApi'))[0]!;
      expect(s.resource.Properties['RestApiId']).toEqual({ Ref: apiId });
      // The ApiName dimension must single this API out: every API of the account is in one namespace.
      const on = alarmsOn(s.stack, 'ApiName', (api as Resource).Properties['Name']);
      expect((api as Resource).Properties['Name']).toBe(`mlops-${name}-${s.stack}-Api`);
      const errors = on.find((a) => metricNamesOf(a.resource).includes('5XXError'));
      const latency = on.find((a) => metricNamesOf(a.resource).includes('Latency'));
      expect(errors?.resource.Properties, `${s.stack} 5xx`).toMatchObject({ Statistic: 'Average', Threshold: config.alarms.api5xxRate });
      expect(latency?.resource.Properties, `${s.stack} p99`).toMatchObject({ ExtendedStatistic: 'p99', Threshold: config.alarms.apiP99Ms });
    }
  });

  it('has a throttles alarm on every DynamoDB table and an unhealthy-hosts alarm on every target group', () => {
    const tables = resourcesOf(templates, 'AWS::DynamoDB::Table');
    expect(tables.length).toBeGreaterThanOrEqual(2);
    for (const t of tables) {
      const on = alarmsOn(t.stack, 'TableName', { Ref: t.id }).flatMap((a) => metricNamesOf(a.resource));
      expect(on, `${t.stack}/${t.id}`).toEqual(expect.arrayContaining(['ReadThrottleEvents', 'WriteThrottleEvents']));
    }
    const groups = resourcesOf(templates, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    expect(groups.length).toBe(1);
    for (const g of groups) {
      const watched = alarms.filter((a) => a.stack === g.stack && metricNamesOf(a.resource).includes('UnHealthyHostCount'));
      expect(JSON.stringify(watched.map((a) => dimensionsOf(a.resource))), `${g.stack}/${g.id}`).toContain(g.id);
    }
  });

  /** The queue a dead-letter config names, checked: KMS-encrypted, with a depth alarm in its stack. */
  const expectDeadLetterQueue = (stack: string, config: unknown, what: string) => {
    const arn = (config as { Arn?: { 'Fn::GetAtt'?: [string, string] } } | undefined)?.Arn?.['Fn::GetAtt'];
    expect(arn?.[1], `${what} dead-letter queue`).toBe('Arn');
    const queue = templates[stack]!.findResources('AWS::SQS::Queue')[arn![0]] as Resource | undefined;
    expect(queue?.Properties['KmsMasterKeyId'], `${what} queue encryption`).toBeDefined();
    const depth = alarmsOn(stack, 'QueueName', { 'Fn::GetAtt': [arn![0], 'QueueName'] });
    expect(depth.flatMap((a) => metricNamesOf(a.resource)), `${what} depth alarm`).toContain('ApproximateNumberOfMessagesVisible');
    return arn![0];
  };

  it('gives every EventBridge rule target a retry policy and a dead-letter queue that accepts the rule', () => {
    const rules = resourcesOf(templates, 'AWS::Events::Rule');
    expect(rules.map((r) => r.stack).sort()).toEqual(['Serving', 'TrainingPipeline']);
    for (const r of rules) {
      const targets = r.resource.Properties['Targets'] as { DeadLetterConfig?: unknown; RetryPolicy?: unknown }[];
      expect(targets.length).toBeGreaterThan(0);
      for (const [i, t] of targets.entries()) {
        const queueId = expectDeadLetterQueue(r.stack, t.DeadLetterConfig, `${r.stack}/${r.id} target ${i}`);
        expect(t.RetryPolicy).toEqual({ MaximumRetryAttempts: 4, MaximumEventAgeInSeconds: 3600 });
        const policies = Object.values(templates[r.stack]!.findResources('AWS::SQS::QueuePolicy')) as Resource[];
        const accepts = policies.some(
          (p) =>
            JSON.stringify(p.Properties['Queues']).includes(queueId) &&
            JSON.stringify(p.Properties['PolicyDocument']).includes(`{"ArnEquals":{"aws:SourceArn":{"Fn::GetAtt":["${r.id}","Arn"]}}}`),
        );
        expect(accepts, `${r.stack}/${r.id}: the queue policy lets EventBridge send for this rule`).toBe(true);
      }
    }
  });

  it("gives every Scheduler schedule a retry policy and a dead-letter queue its role may send to", () => {
    const schedules = resourcesOf(templates, 'AWS::Scheduler::Schedule');
    expect(schedules.map((s) => s.stack).sort()).toEqual(['BatchInference', 'Drift', 'FeatureStore', 'Registry', 'TrainingPipeline']);
    for (const s of schedules) {
      const target = s.resource.Properties['Target'] as { DeadLetterConfig?: unknown; RetryPolicy?: { MaximumRetryAttempts: number }; RoleArn: { 'Fn::GetAtt': [string, string] } };
      const queueId = expectDeadLetterQueue(s.stack, target.DeadLetterConfig, `${s.stack}/${s.id}`);
      expect(target.RetryPolicy?.MaximumRetryAttempts, `${s.stack}/${s.id} retries`).toBeGreaterThan(0);
      const roleId = target.RoleArn['Fn::GetAtt'][0];
      const policies = Object.values(templates[s.stack]!.findResources('AWS::IAM::Policy')) as Resource[];
      const grants = policies.filter((p) => JSON.stringify(p.Properties['Roles']).includes(roleId)).map((p) => JSON.stringify(p.Properties['PolicyDocument']));
      expect(grants.some((g) => g.includes('sqs:SendMessage') && g.includes(queueId)), `${s.stack}/${s.id} role sends to the queue`).toBe(true);
    }
  });

  it('has one dashboard that graphs every function, state machine, table and API of the stage', () => {
    const dashboards = resourcesOf(templates, 'AWS::CloudWatch::Dashboard');
    expect(dashboards.map((d) => d.stack)).toEqual(['Operations']);
    const body = JSON.stringify(dashboards[0]!.resource.Properties['DashboardBody']);
    const graphed = [
      ...resourcesOf(templates, 'AWS::Lambda::Function'),
      ...resourcesOf(templates, 'AWS::StepFunctions::StateMachine'),
      ...resourcesOf(templates, 'AWS::DynamoDB::Table'),
    ];
    // Other stacks' resources arrive as imports named after their logical ids.
    for (const r of graphed) expect(body, `${r.stack}/${r.id}`).toContain(`Ref${r.id}`);
    for (const metric of ['ExecutionsTimedOut', 'ConcurrentExecutions', 'ConsumedReadCapacityUnits', 'UnHealthyHostCount', 'node_cpu_utilization']) {
      expect(body).toContain(metric);
    }
    for (const route of ['/seldon/{namespace}/{deployment}/{proxy+}', '/v2/{proxy+}']) expect(body).toContain(route);
    for (const search of [/MlopsKit\/Drift,Model\} MetricName=\W+DriftShare/, /MlopsKit\/ModelQuality,Model,ModelVersion\} MetricName=\W+RMSE/, /MlopsKit\/Serving,Model,ModelVersion\} MetricName=\W+LatencyP99/]) {
      expect(body).toMatch(search);
    }
  });

  it('alarms on dataset drift of the trained model', () => {
    templates['Drift']!.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'MlopsKit/Drift',
      MetricName: 'DatasetDrift',
      Dimensions: [{ Name: 'Model', Value: 'wine-quality' }],
      Threshold: 1,
    });
  });

  it('flushes the registry outbox on the configured schedule', () => {
    const registry = templates['Registry']!;
    const [fnId] = Object.entries(registry.findResources('AWS::Lambda::Function')).find(([id]) => id.startsWith('OutboxFlush'))!;
    registry.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: config.registry.outboxFlushSchedule,
      Target: { Arn: { 'Fn::GetAtt': [fnId, 'Arn'] } },
    });
  });

  it(`retraining is '${name === 'staging' ? 'auto' : 'notify'}'`, () => {
    const [rule] = resourcesOf(templates, 'AWS::Events::Rule').filter((r) => r.stack === 'TrainingPipeline');
    const p = rule!.resource.Properties as { EventPattern: Record<string, unknown>; EventBusName: unknown; Targets: { Arn: unknown; InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: unknown } }[] };
    expect(p.EventPattern).toEqual({
      source: [DRIFT_EVENT.source, QUALITY_EVENT.source],
      'detail-type': [DRIFT_EVENT.detailType, QUALITY_EVENT.detailType],
      detail: { model: ['wine-quality'] },
    });
    expect(JSON.stringify(p.EventBusName)).toContain('EventBus');
    const [target] = p.Targets;
    expect(Object.values(target!.InputTransformer.InputPathsMap)).toEqual(expect.arrayContaining(['$.detail.reportUri', '$.id', '$.detail-type']));
    const template = JSON.stringify(target!.InputTransformer.InputTemplate);
    if (config.pipelines.retraining === 'auto') {
      const [machineId] = Object.keys(templates['TrainingPipeline']!.findResources('AWS::StepFunctions::StateMachine'));
      expect(target!.Arn).toEqual({ Ref: machineId });
      expect(template).toContain('\\"trigger\\":{\\"reason\\":<detail-type>,\\"report_uri\\":<detail-reportUri>,\\"event_id\\":<id>}');
    } else {
      expect(isAlarmTopic(target!.Arn)).toBe(true);
      expect(template).toContain('aws stepfunctions start-execution --state-machine-arn');
      expect(template).toContain('Retraining is set to notify');
    }
  });
});

describe('operations in local', () => {
  const { templates } = synthAll().local;

  it('has no alarms, dashboard or alarm topic (nothing is monitored on one machine)', () => {
    expect(Object.keys(templates).sort()).not.toContain('Alarms');
    expect(resourcesOf(templates, 'AWS::CloudWatch::Alarm').filter((a) => !a.stack.startsWith('Serving'))).toEqual([]);
    expect(resourcesOf(templates, 'AWS::CloudWatch::Dashboard')).toEqual([]);
  });

  it('still schedules the outbox flush and retrains automatically on drift', () => {
    expect(resourcesOf(templates, 'AWS::Scheduler::Schedule').map((s) => s.stack)).toContain('Registry');
    const rules = resourcesOf(templates, 'AWS::Events::Rule').filter((r) => r.stack === 'TrainingPipeline');
    expect(rules).toHaveLength(1);
    expect(JSON.stringify(rules[0]!.resource.Properties['Targets'])).toContain('report_uri');
  });
});
