/**
 * A Distributed Map's S3 reader and writer with their grants left to the caller, who grants only
 * the lake prefixes the run uses (`LakeBucket.grantObjects`):
 *
 * - {@link LakePrefixReader}: `s3:listObjectsV2` over a prefix named at run time. CDK's reader
 *   grants `s3:ListBucket` on every bucket (`*`) when the bucket is a path.
 * - {@link LakeResultWriter}: the ResultWriter; CDK's grant covers the whole bucket.
 *
 * @example
 * new sfn.DistributedMap(this, 'Each part', {
 *   itemReader: new LakePrefixReader({ bucketNamePath: sfn.JsonPath.stringAt('$.bucket'), prefix: sfn.JsonPath.stringAt('$.prefix') }),
 *   resultWriterV2: new LakeResultWriter({ bucket: lake.curated, prefix: 'results/' }),
 * });
 * lake.curated.grantObjects(role, { list: 'unload/' }, 'the ItemReader lists the run's prefix');
 */
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';

export class LakePrefixReader extends sfn.S3ObjectsItemReader {
  override providePolicyStatements(): iam.PolicyStatement[] {
    return [];
  }
}

export class LakeResultWriter extends sfn.ResultWriterV2 {
  override providePolicyStatements(): iam.PolicyStatement[] {
    return [];
  }
}
