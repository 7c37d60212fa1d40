/**
 * The model-quality check in the batch-inference stack: its lake tables, the `quality` machine
 * (plan → Athena scoring → publish), its grants, alarms without actions, the schedule per
 * configured model where the environment has one, and cdk-nag.
 */
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, resolveEnvironment } from '../../lib/config';
import { Binding } from '../../lib/constructs/binding';
import { PREDICTION_LABELS_TABLE } from '../../lib/constructs/model-quality';
import { REQUEST_LOG_TABLE } from '../../lib/serving/request-log';
import { nagPacksFor } from '../../lib/constructs/nag';
import { FACT_METADATA_TYPE } from '../../lib/constructs/platform-facts';
import { BatchInferenceStack } from '../../stacks/batch-inference-stack';
import { DataLakeStack } from '../../stacks/data-lake-stack';
import { environmentStage, expectNoUnacknowledgedFindings, synthOnce } from '../stack-synth';

const synth = synthOnce(
  (app, config) => {
    const stage = environmentStage(app, config);
    const dataLake = new DataLakeStack(stage, 'DataLake', { config });
    const bus = new events.EventBus(new Stack(stage, 'Bus'), 'Platform');
    const registryGrantees: unknown[] = [];
    const batch = new BatchInferenceStack(stage, 'BatchInference', {
      config,
      lake: dataLake.lake,
      eventBus: bus,
      registry: Binding.of('https://registry.example.com/v1/', (g) => registryGrantees.push(g)),
    });
    return { stage, dataLake, batch, registryGrantees };
  },
  (b) => ({ ...b, template: Template.fromStack(b.batch), lakeTemplate: Template.fromStack(b.dataLake) }),
  ENVIRONMENT_NAMES,
);
const environments = synth();

describe.each(ENVIRONMENT_NAMES)('model quality in %s', (name) => {
  const { batch, template, lakeTemplate, registryGrantees } = environments[name];
  const config = resolveEnvironment(name, { env: {} });

  it('catalogs the request log (deployment and day partitions, projected) and the labels', () => {
    const log = lakeTemplate.findResources('AWS::Glue::Table', {
      Properties: { TableInput: { Name: REQUEST_LOG_TABLE } },
    });
    const input = Object.values(log)[0]!['Properties']['TableInput'];
    expect(input.PartitionKeys).toEqual([
      { Name: 'deployment', Type: 'string' },
      { Name: 'dt', Type: 'string' },
    ]);
    expect(input.Parameters['projection.deployment.type']).toBe('injected');
    expect(JSON.stringify(input.Parameters['storage.location.template'])).toContain(
      `/predictions/deployment=\${deployment}/dt=\${dt}/`,
    );
    // Drift counts each feature's values from the same table.
    expect(input.StorageDescriptor.Columns).toContainEqual({ Name: 'features', Type: 'map<string,double>' });
    lakeTemplate.hasResourceProperties('AWS::Glue::Table', {
      TableInput: Match.objectLike({
        Name: PREDICTION_LABELS_TABLE,
        StorageDescriptor: Match.objectLike({
          Columns: [
            { Name: 'request_id', Type: 'string' },
            { Name: 'row', Type: 'int' },
            { Name: 'label', Type: 'double' },
            { Name: 'ts', Type: 'string' },
          ],
        }),
      }),
    });
  });

  it('runs plan → Athena scoring → publish, declared as the quality machine', () => {
    const [machine] = Object.entries(template.findResources('AWS::StepFunctions::StateMachine')).filter(([id]) =>
      id.startsWith('ModelQuality'),
    );
    const definition = JSON.stringify(machine![1]['Properties']['DefinitionString']);
    for (const s of ['Plan quality', 'Score versions', 'Publish quality', 'Quality checked']) expect(definition).toContain(s);
    expect(definition).toContain('athena:startQueryExecution.sync');
    const facts = batch.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === FACT_METADATA_TYPE).map((m) => m.data));
    expect(facts).toContainEqual(expect.objectContaining({ fact: 'stateMachine', role: 'quality' }));
  });

  it('gives the publish function the thresholds, the bus, and no PutMetricData (metrics are EMF)', () => {
    const fn = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Description: Match.stringLikeRegexp('^Model quality: judge') },
      }),
    )[0]!;
    expect(fn['Properties']['Environment']['Variables']).toMatchObject({
      ENVIRONMENT_NAME: name,
      RMSE_MAX: String(config.modelQuality.rmseMax),
      MAE_MAX: String(config.modelQuality.maeMax),
      R2_MIN: String(config.modelQuality.r2Min),
      MIN_LABELED: String(config.modelQuality.minLabeled),
      EVENT_BUS_NAME: { 'Fn::ImportValue': expect.stringContaining('Bus:') },
    });
    expect(JSON.stringify(template.toJSON())).not.toContain('cloudwatch:PutMetricData');
    expect(JSON.stringify(template.toJSON())).toContain('events:PutEvents');
    // The plan function checks the model against the registry.
    expect(registryGrantees.length).toBeGreaterThan(0);
  });

  it('alarms on RMSE, MAE and R² of each configured model, without actions (the stage adds the topic); none locally', () => {
    if (name === 'local') {
      template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
      return;
    }
    for (const model of config.modelQuality.models) {
      for (const [metric, threshold, op] of [
        ['RMSE', config.modelQuality.rmseMax, 'GreaterThanThreshold'],
        ['MAE', config.modelQuality.maeMax, 'GreaterThanThreshold'],
        ['R2', config.modelQuality.r2Min, 'LessThanThreshold'],
      ] as const) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'MlopsKit/ModelQuality',
          MetricName: metric,
          Dimensions: [{ Name: 'Model', Value: model }],
          Threshold: threshold,
          ComparisonOperator: op,
          AlarmActions: Match.absent(),
        });
      }
    }
  });

  it(`schedules one run per configured model ${name === 'local' ? '(not locally: by hand)' : 'on the environment schedule'}`, () => {
    const schedules = template.findResources('AWS::Scheduler::Schedule');
    if (config.modelQuality.schedule === null) {
      expect(Object.keys(schedules)).toEqual([]);
      return;
    }
    const quality = Object.values(schedules).filter((s) => JSON.stringify(s).includes('"model'));
    expect(quality).toHaveLength(config.modelQuality.models.length);
    expect(quality[0]!['Properties']['ScheduleExpression']).toBe(config.modelQuality.schedule);
    expect(JSON.parse(quality[0]!['Properties']['Target']['Input'])).toEqual({ model: config.modelQuality.models[0] });
  });

  it.each(nagPacksFor(config).map((p) => [p.readPackName, p] as const))('has zero unacknowledged %s findings', (_, pack) => {
    expectNoUnacknowledgedFindings(pack.validateScope(batch));
  });
});
