/**
 * The drift stack as templates in every environment: the machine reads as its diagram and passes
 * asl-validator, the request log's Glue table projects its partitions, the functions and the
 * machine hold only the grants their calls need, the alarm has no actions (the stage's monitoring
 * aspect adds them), the schedule follows `pipelines.driftSchedule`, and cdk-nag finds nothing
 * unacknowledged.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { renderDefinitionString, validateAsl } from '../../lib/asl';
import { ENVIRONMENT_NAMES, FEATURE_FLAGS, resolveEnvironment } from '../../lib/config';
import { Binding } from '../../lib/constructs/binding';
import { nagPacksFor } from '../../lib/constructs/nag';
import { DRIFT_EVENT, DRIFT_METRICS, METRIC_NAMESPACES } from '../../lib/shared/operations';
import { DataLakeStack } from '../../stacks/data-lake-stack';
import { DRIFT_STATES, DriftStack, REQUEST_LOG_TABLE } from '../../stacks/drift-stack';
import { RegistryStack } from '../../stacks/registry-stack';
import { acknowledgementsIn, environmentStage, expectNoUnacknowledgedFindings, synthOnce } from '../stack-synth';

const REGISTRY_URL = 'https://registry.example.com/prod/';

const synth = synthOnce(
  (app, config) => {
    const stage = environmentStage(app, config);
    const { lake } = new DataLakeStack(stage, 'DataLake', { config });
    const registry = new RegistryStack(stage, 'Registry', { config, lake });
    const registryGrantees: iam.IGrantable[] = [];
    const drift = new DriftStack(stage, 'Drift', {
      config,
      lake,
      registry: Binding.of(REGISTRY_URL, (g) => registryGrantees.push(g)),
      eventBus: registry.eventBus,
    });
    return { drift, registryGrantees };
  },
  (b) => ({ ...b, template: Template.fromStack(b.drift) }),
  ENVIRONMENT_NAMES,
);
const environments = synth();

describe.each(ENVIRONMENT_NAMES)('drift stack (%s)', (name) => {
  const { template: t, drift, registryGrantees } = environments[name];
  const config = resolveEnvironment(name, { env: {} });
  const S = DRIFT_STATES;
  const machine = Object.values(t.findResources('AWS::StepFunctions::StateMachine'));
  const definition = renderDefinitionString(machine[0]!['Properties']['DefinitionString']);
  const states = definition['States'] as Record<string, Record<string, any>>;

  it('passes asl-validator and reads as resolve → aggregate → compute → dataset drift? → publish', () => {
    expect(machine).toHaveLength(1);
    expect(validateAsl(definition)).toEqual({ isValid: true, errors: [] });
    expect(definition['StartAt']).toBe(S.resolve);
    expect(Object.keys(states).sort()).toEqual(Object.values(S).sort());
    expect(states[S.resolve]!['Next']).toBe(S.aggregate);
    expect(states[S.aggregate]).toMatchObject({
      Resource: 'arn:aws:states:::athena:startQueryExecution.sync',
      Parameters: { 'QueryString.$': '$.plan.query', WorkGroup: `mlops-${name}`, QueryExecutionContext: { Database: config.dataLake.glueDatabaseName } },
      Next: S.compute,
    });
    expect(states[S.compute]!['Parameters']).toEqual({ 'plan.$': '$.plan', 'result.$': '$.window.result' });
    expect(states[S.gate]).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.report.dataset_drift', BooleanEquals: true, Next: S.publish }],
      Default: S.clean,
    });
    expect(states[S.publish]).toMatchObject({
      Resource: 'arn:aws:states:::events:putEvents',
      Parameters: { Entries: [{ Source: DRIFT_EVENT.source, DetailType: DRIFT_EVENT.detailType, 'Detail.$': '$.report.event' }] },
      Next: S.detected,
    });
    for (const [n, s] of Object.entries(states).filter(([, s]) => s['Type'] === 'Task')) {
      expect(s['TimeoutSeconds'], n).toBeGreaterThan(0);
      expect(s['Retry']?.[0]?.['BackoffRate'], n).toBe(2);
    }
  });

  it('declares itself to the local platform as the drift machine', () => {
    const facts = drift.stateMachine.node.metadata.filter((m) => m.type === 'mlops-kit:fact').map((m) => m.data as Record<string, unknown>);
    expect(facts).toEqual([expect.objectContaining({ fact: 'stateMachine', role: 'drift', defaultInput: { model: 'wine-quality' } })]);
  });

  it("defines no table of its own: the plan queries the lake's one request-log table (with model quality)", () => {
    t.resourceCountIs('AWS::Glue::Table', 0);
    t.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ REQUEST_LOG_TABLE }) },
    });
  });

  it('binds the registry to the plan function only, and the report function writes only under drift/', () => {
    expect(registryGrantees).toHaveLength(1);
    expect([drift.functions.plan, drift.functions.plan.function]).toContain(registryGrantees[0]);
    const report = t.toJSON()['Resources'];
    const policies = JSON.stringify(
      Object.entries(report as Record<string, any>).filter(([k, r]) => r.Type === 'AWS::IAM::Policy' && k.startsWith('ReportFunction')),
    );
    expect(policies).toContain('/drift/*');
    expect(policies).not.toContain('cloudwatch:PutMetricData');
  });

  it('has a DatasetDrift ≥ 1 alarm without actions, on the drift namespace and the model (none locally)', () => {
    if (name === 'local') {
      t.resourceCountIs('AWS::CloudWatch::Alarm', 0);
      return;
    }
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: METRIC_NAMESPACES.drift,
      MetricName: DRIFT_METRICS.datasetDrift,
      Dimensions: [{ Name: 'Model', Value: 'wine-quality' }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    for (const alarm of Object.values(t.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm['Properties']['AlarmActions']).toBeUndefined();
    }
  });

  it('schedules the last day of wine-quality per pipelines.driftSchedule', () => {
    const schedules = t.findResources('AWS::Scheduler::Schedule');
    if (!config.pipelines.driftSchedule) {
      expect(schedules).toEqual({});
      return;
    }
    t.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: config.pipelines.driftSchedule,
      Target: Match.objectLike({ Input: JSON.stringify({ model: 'wine-quality' }) }),
    });
  });

  it.each(nagPacksFor(config).map((p) => [p.readPackName, p] as const))('has zero unacknowledged %s findings', (_, pack) => {
    expectNoUnacknowledgedFindings(pack.validateScope(drift));
  });

  it('acknowledges findings only on specific constructs, each with a specific reason', () => {
    for (const ack of acknowledgementsIn(drift)) {
      expect(Stack.isStack(ack.scope), `${ack.id} acknowledged on a whole stack (${ack.path})`).toBe(false);
      expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThanOrEqual(60);
    }
  });
});

describe('drift thresholds from the config', () => {
  it("reach the report function, Evidently's defaults filled in", () => {
    const fn = Object.values(environments.staging.template.findResources('AWS::Lambda::Function')).find((f) =>
      String(f['Properties']['Description']).startsWith('Drift: run the tests'),
    )!;
    const thresholds = JSON.parse(fn['Properties']['Environment']['Variables']['DRIFT_THRESHOLDS']) as Record<string, number>;
    expect(thresholds).toMatchObject({ ksPValue: 0.05, wassersteinDistance: 0.1, jensenShannonDistance: 0.1, driftShare: 0.5 });
  });

  it('fails synthesis if a threshold is out of range, naming it', () => {
    const config = resolveEnvironment('staging', { env: {}, overrides: { staging: { drift: { thresholds: { ksPValue: 2 } } } } });
    const app = new App({ context: { ...FEATURE_FLAGS } });
    const stage = environmentStage(app, config);
    const { lake } = new DataLakeStack(stage, 'DataLake', { config });
    const registry = new RegistryStack(stage, 'Registry', { config, lake });
    expect(() => new DriftStack(stage, 'Drift', { config, lake, registry: Binding.of(REGISTRY_URL, () => {}), eventBus: registry.eventBus })).toThrow(
      /drift option ksPValue must be a number in \[0, 1\], but 2 was provided/,
    );
  });
});
