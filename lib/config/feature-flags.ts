/**
 * CDK feature flags the kit depends on. They live in code, not only in cdk.json, because tests and
 * the local runtime build the app without the CDK CLI, and the templates must not differ.
 */
export const FEATURE_FLAGS: Record<string, unknown> = {
  '@aws-cdk/core:checkSecretUsage': true,
  // Server access logs are granted by bucket policy, which works with BucketOwnerEnforced buckets.
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-iam:minimizePolicies': true,
  '@aws-cdk/aws-kms:reduceCrossAccountRegionPolicyScope': true,
  '@aws-cdk/aws-lambda-nodejs:useLatestRuntimeVersion': true,
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
  '@aws-cdk/aws-s3:setUniqueReplicationRoleName': true,
  '@aws-cdk/aws-stepfunctions-tasks:fixRunEcsTaskPolicy': true,
  '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2': true,
};
