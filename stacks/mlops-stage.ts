/**
 * One copy of the platform: a Stage per environment, built from that environment's validated
 * config and tagged with it. `bin/app.ts` makes one per selected environment.
 *
 * @example
 * new MlopsStage(app, 'mlops-staging', { config: resolveEnvironment('staging') });
 */
import { AspectPriority, Aspects, Aws, CfnRule, Fn, Stack, Stage, type StageProps, type StageSynthesisOptions, Tags, Validations } from 'aws-cdk-lib';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { Construct } from 'constructs';
import { type EnvironmentConfig, LOCAL_ACCOUNT } from '../lib/config';
import { resolveHouseDefaults, withLogsKey } from '../lib/constructs/house-defaults';
import { nagPluginsFor } from '../lib/constructs/nag';
import { validateAhead } from '../lib/constructs/validation-cache';
import { OperationsCoverage } from '../lib/constructs/operations-coverage';
import { addDeployPreflight } from '../lib/constructs/preflight';
import { declareServing } from '../lib/constructs/platform-facts';
import { MODEL_NAMESPACE } from '../lib/serving-infra/seldon';
import { PREDICTION_ROUTES } from '../lib/constructs/prediction-api';
import { AlarmsStack } from './alarms-stack';
import { BatchInferenceStack } from './batch-inference-stack';
import { DataLakeStack } from './data-lake-stack';
import { DriftStack } from './drift-stack';
import { FeatureStoreStack } from './feature-store-stack';
import { OperationsStack } from './operations-stack';
import { RegistryStack } from './registry-stack';
import { ReleaseStack } from './release-stack';
import { ServingStack, servingRunsOnEks } from './serving-stack';
import { promotionEventPattern } from '../lib/constructs/canary-rollout';
import { TrainingPipelineStack } from './training-pipeline-stack';
import { DeliveryAccess } from '../lib/constructs/delivery-access';

export interface MlopsStageProps extends StageProps {
  readonly config: EnvironmentConfig;
  /**
   * Run the cdk-nag packs during synthesis (AwsSolutions everywhere, NIST 800-53 R5 in
   * production): an unacknowledged finding stops synthesis.
   * @default true
   */
  readonly nag?: boolean;
  /**
   * The tooling account of a delivery pipeline deploying this stage: adds the `DeliveryAccess`
   * stack, the roles that pipeline assumes for its smoke step and its release builds.
   * @default - no delivery pipeline: no such roles
   */
  readonly deliveryAccount?: string;
}

/** The stage id of an environment: its stacks are named `<stage id>-<Stack>`. */
export const stageId = (name: string): string => `mlops-${name}`;

export class MlopsStage extends Stage {
  readonly config: EnvironmentConfig;
  /** The alarm topic and the operations key; absent in local, where nothing is monitored. */
  readonly alarms?: AlarmsStack;
  /** The environment's dashboard; absent in local. */
  readonly operations?: OperationsStack;
  readonly dataLake: DataLakeStack;
  readonly registry: RegistryStack;
  readonly featureStore: FeatureStoreStack;
  readonly training: TrainingPipelineStack;
  readonly batchInference: BatchInferenceStack;
  /** The release machine (and, where another environment releases from this one, its role). */
  readonly release: ReleaseStack;
  readonly drift: DriftStack;
  /** Absent in local, where models are served by local processes (see `lib/local/serving.ts`). */
  readonly serving?: ServingStack;
  /** Present when a delivery pipeline deploys the stage (`deliveryAccount`). */
  readonly delivery?: DeliveryAccess;

  constructor(scope: Construct, id: string, props: MlopsStageProps) {
    super(scope, id, { ...props, env: { account: props.config.account, region: props.config.region } });
    this.config = props.config;
    for (const [key, value] of Object.entries(props.config.tags)) Tags.of(this).add(key, value);

    // Removal policy, log retention and key, function sizing: decided here once for every stack.
    const config = props.config;
    const name = config.name;
    const base = resolveHouseDefaults(config);
    if (base.monitored) {
      this.alarms = new AlarmsStack(this, 'Alarms', {
        description: `mlops-kit ${name}: alarm topic and operations key`,
        config,
        house: base,
      });
    }
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
      registry: this.registry,
      retraining: { eventBus: this.registry.eventBus, topic: this.alarms?.topic },
    });
    this.batchInference = new BatchInferenceStack(this, 'BatchInference', {
      description: `mlops-kit ${name}: batch inference over lake tables, model quality of served predictions`,
      config,
      lake,
      house,
      eventBus: this.registry.eventBus,
      registry: this.registry.endpoint,
    });
    this.release = new ReleaseStack(this, 'Release', {
      description: `mlops-kit ${name}: model releases from another environment (copy, verify, approve, promote)`,
      config,
      lake,
      house,
      registry: this.registry,
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
    if (props.deliveryAccount !== undefined && this.serving?.api) {
      const stack = new Stack(this, 'DeliveryAccess', {
        description: `mlops-kit ${name}: the roles the delivery pipeline assumes (smoke test, tag releases)`,
      });
      this.delivery = new DeliveryAccess(stack, 'Access', {
        environmentName: name,
        toolingAccount: props.deliveryAccount,
        predictionApi: this.serving.api,
        trainingStateMachine: this.training.stateMachine,
        releaseStateMachine: this.release.machine.stateMachine.stateMachine,
      });
    }
    if (this.alarms) {
      this.operations = new OperationsStack(this, 'Operations', {
        description: `mlops-kit ${name}: CloudWatch dashboard`,
        config,
        stage: this,
      });
      // Mutating, so alarms, queues and overrides exist before read-only aspects and cdk-nag look.
      Aspects.of(this).add(
        new OperationsCoverage({
          topic: config.alarms.enabled ? this.alarms.topic : undefined,
          key: this.alarms.key,
          alarms: config.alarms,
        }),
        { priority: AspectPriority.MUTATING },
      );
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

  /** As Stage's; then this stage's templates go to CloudFormation validation's worker, if one runs. */
  override synth(options?: StageSynthesisOptions): CloudAssembly {
    const assembly = super.synth(options);
    validateAhead(assembly);
    return assembly;
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
