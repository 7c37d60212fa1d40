/**
 * The training pipeline's "Validate data" function (`lambdas/pipeline-validate.ts`): validates the
 * execution input and the dataset, writes the data profile under the run's prefix, and plans the
 * run (queries, locations, training job name). A dataset's cells are checked by one Athena aggregate
 * over its text twin (lib/pipelines/validate-sql.ts), each object's header from its first bytes:
 * no object is read whole. It reads the raw zone where the table lives and the
 * feature store's offline tables for their versions; it writes only under `runs/`.
 *
 * @example
 * const validateFn = new ValidateDataFunction(this, 'ValidateFunction', { lake, house });
 */
import { Duration } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { FEATURE_STORE_PREFIX } from '../features/definitions';
import type { TrainingResourceLimits } from '../pipelines/input';
import type { DataLake } from './data-lake';
import type { HouseDefaults } from './house-defaults';
import { lakeTablesJson } from './lake-table';
import { lambdaEntry, MlopsFunction } from './mlops-function';

/** Lambda's longest: the function waits for the validation aggregate Athena runs over the table. */
export const VALIDATE_TIMEOUT_MINUTES = 15;

export interface ValidateDataFunctionProps {
  readonly lake: DataLake;
  readonly house: HouseDefaults;
  /** Where "Build features" UNLOADs (the function names it in the query it plans). */
  readonly featuresLocation: string;
  /** The artifacts prefix each run writes under (`runs/<model>/<execution>/`). */
  readonly runsPrefix: string;
  /** What a run may ask for in its input; the function checks it and plans the job's resources. */
  readonly trainingLimits: TrainingResourceLimits;
}

export class ValidateDataFunction extends MlopsFunction {
  constructor(scope: Construct, id: string, props: ValidateDataFunctionProps) {
    const { lake, house } = props;
    super(scope, id, {
      ...house.logs,
      ...house.workflowFunction,
      entry: lambdaEntry('pipeline-validate'),
      description: 'Training pipeline: validate the input and the dataset, write the data profile, plan the run',
      // It waits for the validation aggregate (Athena scans the table); it holds no object.
      timeout: Duration.minutes(VALIDATE_TIMEOUT_MINUTES),
      environment: {
        LAKE_TABLES: lakeTablesJson(scope, lake.tables),
        LAKE_DATABASE: lake.databaseName,
        // Named in the UNLOAD the function plans; the state machine's role writes there, not the function.
        FEATURES_LOCATION: props.featuresLocation,
        // The feature store's offline tables (an input may name a feature service): read for versions.
        FEATURE_STORE_LOCATION: `s3://${lake.curated.bucketName}/${FEATURE_STORE_PREFIX}/`,
        TRAINING_LIMITS: JSON.stringify(props.trainingLimits),
        ATHENA_WORKGROUP: lake.workGroupName,
      },
    });
    // The validation aggregate: Athena in the lake workgroup (Glue reads, its result prefix) and
    // the one result row; Athena reads the raw zone with this role's grant below.
    lake.grantQuery(this.function);
    lake.grantQueryResults(this.function);
    this.bind(
      'RAW_BUCKET',
      lake.raw.objects(
        { read: '', list: '' },
        'a run validates the table its input names, wherever in the raw zone the table is located',
      ),
    ).bind(
      'ARTIFACTS_BUCKET',
      lake.artifacts.objects(
        // Read too: a retried step compares what it finds with what it would write (written once).
        { put: props.runsPrefix, read: props.runsPrefix },
        'each run writes its profile once under its own runs/<model>/<execution>/ prefix, named at run time',
      ),
    );
    lake.curated.grantObjects(
      this.function,
      { read: `${FEATURE_STORE_PREFIX}/`, list: `${FEATURE_STORE_PREFIX}/` },
      "a feature-service run records the version of each object of the service's offline tables, which are named by the feature repo",
    );
  }
}
