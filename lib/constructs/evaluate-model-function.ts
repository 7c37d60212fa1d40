/**
 * The training pipeline's "Evaluate model" function (`lambdas/pipeline-evaluate.ts`): scores the
 * candidate and the production model on the holdout split and decides the verdict. It reads
 * models (`MODEL_ARTIFACT_KEYS`) and holdout splits under `data/`, and asks the registry which
 * version is in production when one is configured.
 *
 * @example
 * const evaluateFn = new EvaluateModelFunction(this, 'EvaluateFunction', { lake, house, registry: registry.endpoint, registryAuth: 'iam' });
 */
import { Duration } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { Binding } from './binding';
import { ARTIFACT_PREFIXES } from '../pipelines/artifact-layout';
import { type DataLake, MODEL_ARTIFACT_KEYS } from './data-lake';
import type { HouseDefaults } from './house-defaults';
import { lambdaEntry, MlopsFunction } from './mlops-function';

export interface EvaluateModelFunctionProps {
  readonly lake: DataLake;
  readonly house: HouseDefaults;
  /**
   * The registry's URL with the right to call it (`REGISTRY_URL`).
   * @default - no registry: the candidate is judged by the thresholds alone
   */
  readonly registry?: Binding;
  /**
   * How the function signs registry calls (`REGISTRY_AUTH`); only with `registry`.
   * @default 'iam'
   */
  readonly registryAuth?: 'none' | 'iam';
}

export class EvaluateModelFunction extends MlopsFunction {
  constructor(scope: Construct, id: string, props: EvaluateModelFunctionProps) {
    if (props.registryAuth !== undefined && props.registry === undefined) {
      throw new Error(`registryAuth applies to a registry, but none was provided with registryAuth ${props.registryAuth}`);
    }
    super(scope, id, {
      ...props.house.logs,
      ...props.house.workflowFunction,
      entry: lambdaEntry('pipeline-evaluate'),
      description: 'Training pipeline: score the candidate and the production model on the holdout split',
      timeout: Duration.minutes(5),
      memorySize: Math.max(1024, props.house.workflowFunction.memorySize),
      environment: props.registry ? { REGISTRY_AUTH: props.registryAuth ?? 'iam' } : {},
    });
    if (props.registry) this.bind('REGISTRY_URL', props.registry);
    this.bind(
      'ARTIFACTS_BUCKET',
      props.lake.artifacts.objects(
        // The holdout split is a folder of Parquet parts: listed, then read a row group at a time.
        { readKeys: [...MODEL_ARTIFACT_KEYS, `${ARTIFACT_PREFIXES.data}*/holdout/*`], list: ARTIFACT_PREFIXES.data },
        "a run reads its candidate and the production model (model.tar.gz objects only) and its holdout split's parts, named by the run",
      ),
    );
  }
}
