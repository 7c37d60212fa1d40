/**
 * The environment's dashboard (`PlatformDashboard`). The last stack of a stage: its body refers to
 * the functions, state machines, tables and APIs of every other stack, rendered when the stage is
 * synthesized, so a resource added anywhere appears without a change here.
 *
 * The widgets refer to other stacks' resources by their generated names, so CloudFormation exports
 * carry them: removing a graphed resource deploys in two steps (CDK's usual strong references).
 *
 * @example
 * new OperationsStack(stage, 'Operations', { config, stage });
 */
import { CfnOutput, Duration, Stack, type StackProps, type Stage } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import { PlatformDashboard } from '../lib/constructs/platform-dashboard';
import { PREDICTION_ROUTES } from '../lib/constructs/prediction-api';
import { DEFAULT_SCHEDULED_INPUT } from '../lib/pipelines/training-states';
import { DRIFT_METRICS, METRIC_NAMESPACES } from '../lib/shared/operations';

export interface OperationsStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  /** The stage the dashboard shows. */
  readonly stage: Stage;
  /**
   * Models whose dataset drift raises an alarm (the drift machine publishes `DatasetDrift` per model).
   * @default the model the scheduled training input trains
   */
  readonly monitoredModels?: readonly string[];
}

export class OperationsStack extends Stack {
  readonly dashboard: PlatformDashboard;
  /** One per monitored model: dataset drift was found in a window (its action is the alarm topic). */
  readonly driftAlarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: OperationsStackProps) {
    super(scope, id, props);
    this.dashboard = new PlatformDashboard(this, 'Dashboard', {
      stage: props.stage,
      environmentName: props.config.name,
      predictionRoutes: PREDICTION_ROUTES,
    });
    const models = props.monitoredModels ?? [String(DEFAULT_SCHEDULED_INPUT.model_name)];
    this.driftAlarms = models.map(
      (model) =>
        new cloudwatch.Alarm(this, `DatasetDrift-${model}`, {
          alarmDescription: `Dataset drift was found for ${model}: the DriftDetected event names the report; retraining follows pipelines.retraining.`,
          metric: new cloudwatch.Metric({
            namespace: METRIC_NAMESPACES.drift,
            metricName: DRIFT_METRICS.datasetDrift,
            dimensionsMap: { Model: model },
            statistic: 'Maximum',
            // The drift machine runs daily (driftSchedule): a finding stays in alarm for its day.
            period: Duration.days(1),
          }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );
    new CfnOutput(this, 'DashboardName', {
      value: this.dashboard.dashboard.ref,
      description: 'CloudWatch dashboard of the environment',
    });
  }
}
