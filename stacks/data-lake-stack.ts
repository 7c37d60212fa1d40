/**
 * The data lake stack: storage, catalog and SQL for one environment. Other stacks take the
 * `DataLake` from here and grant themselves what they need through its grant methods.
 *
 * @example
 * const lake = new DataLakeStack(stage, 'DataLake', { config, house: resolveHouseDefaults(config) }).lake;
 */
import { REQUEST_LOG_PREFIX } from '../lib/serving/request-log';
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import { DataLake } from '../lib/constructs/data-lake';
import { type HouseDefaults, resolveHouseDefaults } from '../lib/constructs/house-defaults';
import { declareLakeBuckets } from '../lib/constructs/platform-facts';

export interface DataLakeStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  /**
   * The environment's house defaults (the stage resolves them once).
   * @default resolveHouseDefaults(config)
   */
  readonly house?: HouseDefaults;
}

export class DataLakeStack extends Stack {
  readonly lake: DataLake;

  constructor(scope: Construct, id: string, props: DataLakeStackProps) {
    super(scope, id, props);
    const { config } = props;
    const house = props.house ?? resolveHouseDefaults(config);
    this.lake = new DataLake(this, 'Lake', {
      environmentName: config.name,
      databaseName: config.dataLake.glueDatabaseName,
      bytesScannedCutoffPerQuery: config.athena.bytesScannedCutoffPerQuery,
      removalPolicy: house.removalPolicy,
      noncurrentVersionExpirationDays: config.dataLake.noncurrentVersionExpirationDays,
      infrequentAccessAfterDays: config.dataLake.infrequentAccessAfterDays ?? undefined,
      archiveAfterDays: config.dataLake.archiveAfterDays ?? undefined,
      athenaResultsExpirationDays: config.dataLake.athenaResultsExpirationDays,
      accessLogsExpirationDays: config.dataLake.accessLogsExpirationDays,
      requestLog: { prefix: REQUEST_LOG_PREFIX, days: config.dataLake.requestLogExpirationDays },
    });
    declareLakeBuckets(this.lake);
    const out = (name: string, value: string, description: string) =>
      new CfnOutput(this, name, { value, description });
    out('RawBucketName', this.lake.raw.bucketName, 'Raw zone: data as it arrives');
    out('CuratedBucketName', this.lake.curated.bucketName, 'Curated zone: validated Parquet and features');
    out('ArtifactsBucketName', this.lake.artifacts.bucketName, 'Model artifacts and run outputs');
    out('AthenaResultsBucketName', this.lake.athenaResults.bucketName, 'Athena query results');
    out('GlueDatabaseName', this.lake.databaseName, 'Glue database for Athena SQL');
    out('AthenaWorkGroupName', this.lake.workGroupName, 'Athena workgroup (enforced configuration)');
  }
}
