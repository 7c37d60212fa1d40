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
import { CfnOutput, Stack, type StackProps, type Stage } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import { PlatformDashboard } from '../lib/constructs/platform-dashboard';
import { PREDICTION_ROUTES } from '../lib/constructs/prediction-api';

export interface OperationsStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  /** The stage the dashboard shows. */
  readonly stage: Stage;
}

export class OperationsStack extends Stack {
  readonly dashboard: PlatformDashboard;

  constructor(scope: Construct, id: string, props: OperationsStackProps) {
    super(scope, id, props);
    this.dashboard = new PlatformDashboard(this, 'Dashboard', {
      stage: props.stage,
      environmentName: props.config.name,
      predictionRoutes: PREDICTION_ROUTES,
    });
    // Dataset drift alarms live with the drift machine (DriftStack), next to what they watch.
    new CfnOutput(this, 'DashboardName', {
      value: this.dashboard.dashboard.ref,
      description: 'CloudWatch dashboard of the environment',
    });
  }
}
