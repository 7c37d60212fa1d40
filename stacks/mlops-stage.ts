/**
 * One copy of the platform: a Stage per environment, built from that environment's validated
 * config and tagged with it. `bin/app.ts` makes one per selected environment.
 *
 * @example
 * new MlopsStage(app, 'mlops-staging', { config: resolveEnvironment('staging') });
 */
import { Aws, CfnRule, Fn, Stack, Stage, type StageProps, Tags, Validations } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { type EnvironmentConfig, LOCAL_ACCOUNT } from '../lib/config';
import { resolveHouseDefaults, withLogsKey } from '../lib/constructs/house-defaults';
import { nagPluginsFor } from '../lib/constructs/nag';
import { addDeployPreflight } from '../lib/constructs/preflight';
import { declareServing } from '../lib/constructs/platform-facts';
import { MODEL_NAMESPACE } from '../lib/serving-infra/seldon';
import { PREDICTION_ROUTES } from '../lib/constructs/prediction-api';
import { BatchInferenceStack } from './batch-inference-stack';
import { DataLakeStack } from './data-lake-stack';
import { DriftStack } from './drift-stack';
import { FeatureStoreStack } from './feature-store-stack';
import { RegistryStack } from './registry-stack';
import { ServingStack, servingRunsOnEks } from './serving-stack';
import { promotionEventPattern } from '../lib/constructs/canary-rollout';
import { TrainingPipelineStack } from './training-pipeline-stack';

export interface MlopsStageProps extends StageProps {
  readonly config: EnvironmentConfig;
  /**
   * Run the cdk-nag packs during synthesis (AwsSolutions everywhere, NIST 800-53 R5 in
   * production): an unacknowledged finding stops synthesis.
   * @default true
   */
  readonly nag?: boolean;
}

/** The stage id of an environment: its stacks are named `<stage id>-<Stack>`. */
export const stageId = (name: string): string => `mlops-${name}`;

export class MlopsStage extends Stage {
  readonly config: EnvironmentConfig;
  readonly dataLake: DataLakeStack;
  readonly registry: RegistryStack;
  readonly featureStore: FeatureStoreStack;
  readonly training: TrainingPipelineStack;
  readonly batchInference: BatchInferenceStack;
  readonly drift: DriftStack;
  /** Absent in local, where models are served by local processes (see `lib/local/serving.ts`). */
  readonly serving?: ServingStack;

  constructor(scope: Construct, id: string, props: MlopsStageProps) {
    super(scope, id, { ...props, env: { account: props.config.account, region: props.config.region } });
    this.config = props.config;
    for (const [key, value] of Object.entries(props.config.tags)) Tags.of(this).add(key, value);

    // Removal policy, log retention and key, function sizing: decided here once for every stack.
    const config = props.config;
    const name = config.name;
    const base = resolveHouseDefaults(config);
    this.dataLake = new DataLakeStack(this, 'DataLake', {
      description: `mlops-kit ${name}: S3 data lake, Glue catalog and Athena workgroup`,
      config,
      house: base,
    });
    const lake = this.dataLake.lake;
    const house = withLogsKey(base, lake.logsKey);
    this.registry = new RegistryStack(this, 'Registry', {
      description: `mlops-kit ${name}: MLflow-compatible model registry and experiment tracking`,
      config,
      lake,
      house,
    });
    this.featureStore = new FeatureStoreStack(this, 'FeatureStore', {
      description: `mlops-kit ${name}: feature store (online table, lookup API, materialization)`,
      config,
      lake,
      house,
    });
    this.training = new TrainingPipelineStack(this, 'TrainingPipeline', {
      description: `mlops-kit ${name}: training pipeline (validate, features, train, evaluate, gate, register)`,
      config,
      lake,
      house,
      registry: this.registry.endpoint,
    });
    this.batchInference = new BatchInferenceStack(this, 'BatchInference', {
      description: `mlops-kit ${name}: batch inference over lake tables`,
      config,
      lake,
      house,
    });
    this.drift = new DriftStack(this, 'Drift', {
      description: `mlops-kit ${name}: data and prediction drift (request log vs training baseline)`,
      config,
      lake,
      house,
      registry: this.registry.endpoint,
      eventBus: this.registry.eventBus,
    });
    if (servingRunsOnEks(props.config)) {
      this.serving = new ServingStack(this, 'Serving', {
        description: `mlops-kit ${name}: model serving (EKS, Seldon Core, prediction API)`,
        config: props.config,
        lake,
        house,
        eventBus: this.registry.eventBus,
      });
    }
    declareServing(this.registry.eventBus, { namespace: MODEL_NAMESPACE, routes: PREDICTION_ROUTES, promotion: promotionEventPattern() });

    if (props.config.name === 'local') {
      for (const stack of this.node.children.filter(Stack.isStack)) guardLocalOnly(stack);
    } else {
      // Local is never deployed, so no account's quotas apply to it.
      addDeployPreflight(this, props.config);
    }
    if (props.nag ?? true) Validations.of(this).addPlugins(...nagPluginsFor(this, props.config));
  }
}

/**
 * The local stage runs on one machine (`mlops up`) and is never deployed: its APIs are
 * unauthenticated because only 127.0.0.1 reaches them. A CloudFormation rule makes any deployment
 * of it fail, since no real account has the local account id.
 */
function guardLocalOnly(stack: Stack): void {
  new CfnRule(stack, 'LocalEnvironmentOnly', {
    assertions: [
      {
        assert: Fn.conditionEquals(Aws.ACCOUNT_ID, LOCAL_ACCOUNT),
        assertDescription:
          'The local environment runs on one machine with `npx mlops up` and must not be deployed to AWS; deploy staging or production instead (-c env=staging).',
      },
    ],
  });
}
