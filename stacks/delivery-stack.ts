/**
 * The delivery stack, deployed once into the tooling account (`npx cdk deploy -c env=delivery`):
 * the platform's self-mutating pipeline (staging, its smoke test, an approval, production, its
 * health check) and the git-tag release trigger.
 *
 * ```
 * push to <branch> ─→ Source → Build (.ci/run, cdk synth) → UpdatePipeline → Assets
 *   → mlops-staging → Smoke (mlops smoke: live, predict, train) → PromoteToProduction (manual)
 *   → mlops-production → HealthCheck (mlops smoke --no-training)
 * tag release/<model>/<version> ─→ Checkout → Release (mlops release … --from staging --to production)
 * ```
 *
 * @example
 * new DeliveryStack(app, 'mlops-delivery', { delivery: resolveDelivery({ context, env }) });
 */
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { DeliveryConfig, EnvironmentConfig } from '../lib/config';
import { deliveryRoleNames } from '../lib/constructs/delivery-access';
import { DeliveryPipeline, environmentCheck } from '../lib/constructs/delivery-pipeline';
import { ReleaseTrigger } from '../lib/constructs/release-trigger';
import { MlopsStage, stageId } from './mlops-stage';

export interface DeliveryStackProps extends StackProps {
  readonly delivery: DeliveryConfig;
  /**
   * Run cdk-nag on the deployed stages during synthesis (as `MlopsStage` does).
   * @default true
   */
  readonly nag?: boolean;
}

/** The stack id, which is also its CloudFormation name. */
export const DELIVERY_STACK_ID = 'mlops-delivery';

export class DeliveryStack extends Stack {
  readonly pipeline: DeliveryPipeline;
  readonly staging: MlopsStage;
  readonly production: MlopsStage;
  readonly releases: ReleaseTrigger;

  constructor(scope: Construct, id: string, props: DeliveryStackProps) {
    const { delivery } = props;
    super(scope, id, {
      description: 'mlops-kit delivery: the platform pipeline (staging, production) and tag-based model releases',
      ...props,
      env: { account: delivery.account, region: delivery.region },
    });
    this.pipeline = new DeliveryPipeline(this, 'Platform', {
      connectionArn: delivery.connectionArn,
      repository: delivery.repository,
      branch: delivery.branch,
      // The pipeline re-synthesizes itself in CodeBuild: with the values it was deployed with.
      synthEnv: synthEnvironment(delivery),
    });
    const stage = (config: EnvironmentConfig) =>
      new MlopsStage(this, stageId(config.name), { config, nag: props.nag, deliveryAccount: delivery.account });
    this.staging = stage(delivery.staging);
    this.production = stage(delivery.production);

    const check = (target: MlopsStage, name: string, commands: string[]) => {
      const outputs = target.delivery!.outputs;
      return environmentCheck({
        name,
        input: this.pipeline.source,
        profile: target.config.name,
        region: target.config.region,
        roleArn: `arn:aws:iam::${target.config.account}:role/${deliveryRoleNames(target.config.name).smokeRole}`,
        envFromCfnOutputs: { PREDICTION_URL: outputs.predictionUrl, TRAINING_STATE_MACHINE_ARN: outputs.trainingStateMachineArn },
        commands,
      });
    };
    // A new environment serves no model until one is promoted: the smoke test accepts that, once.
    this.pipeline.deploy(this.staging, { post: [check(this.staging, 'Smoke', ['npx mlops smoke --allow-undeployed'])] });
    this.pipeline.deploy(this.production, {
      approval: 'PromoteToProduction',
      post: [check(this.production, 'HealthCheck', ['npx mlops smoke --allow-undeployed --no-training'])],
    });
    this.pipeline.build();

    this.releases = new ReleaseTrigger(this, 'Releases', {
      connectionArn: delivery.connectionArn,
      repository: delivery.repository,
      environments: {
        staging: { account: delivery.staging.account, region: delivery.staging.region },
        production: { account: delivery.production.account, region: delivery.production.region },
      },
      logGroup: this.pipeline.logGroup,
    });
  }
}

/** The variables that make `cdk synth -c env=delivery` in CodeBuild resolve what this synthesis did. */
export function synthEnvironment(delivery: DeliveryConfig): Record<string, string> {
  return {
    MLOPS_DELIVERY_ACCOUNT: delivery.account,
    MLOPS_DELIVERY_REGION: delivery.region,
    MLOPS_DELIVERY_CONNECTION_ARN: delivery.connectionArn,
    MLOPS_DELIVERY_REPOSITORY: delivery.repository,
    MLOPS_DELIVERY_BRANCH: delivery.branch,
    MLOPS_STAGING_ACCOUNT: delivery.staging.account,
    MLOPS_STAGING_REGION: delivery.staging.region,
    MLOPS_PRODUCTION_ACCOUNT: delivery.production.account,
    MLOPS_PRODUCTION_REGION: delivery.production.region,
  };
}
