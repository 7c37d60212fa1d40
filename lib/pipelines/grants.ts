/**
 * Least-privilege grants for the pipeline stacks, written out as the exact actions each step calls.
 *
 * CDK's bucket grants give `s3:GetObject*`, `s3:List*`, `kms:ReEncrypt*` and the like, and its
 * Athena and SageMaker tasks grant S3 and Lake Formation on `"*"` plus Glue writes; the pipelines
 * need none of that. Each helper here grants named actions on one bucket prefix (KMS only through
 * S3) and acknowledges the one cdk-nag finding a prefix wildcard raises, on that role, with the
 * reason it cannot be narrower.
 *
 * @example
 * const grants = new PipelineGrants(this, lake);
 * grants.bindObjects(fn, 'ARTIFACTS_BUCKET', lake.artifacts, { write: 'runs/' }, 'each run writes under its own runs/<model>/<execution>/ prefix, named at run time');
 */
import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { DataLake } from '../constructs/data-lake';
import type { MlopsFunction } from '../constructs/mlops-function';

export interface ObjectAccess {
  /** Key prefix readable with GetObject (`''` for the whole bucket). */
  readonly read?: string;
  /** Key prefix listable with ListBucket. */
  readonly list?: string;
  /** Key prefix writable with PutObject. */
  readonly write?: string;
}

const ATHENA_RESULTS_PREFIX = 'results/';

export class PipelineGrants {
  private readonly stack: Stack;

  constructor(
    scope: Construct,
    private readonly lake: DataLake,
  ) {
    this.stack = Stack.of(scope);
  }

  /** The bucket's ARN in this stack, and how cdk-nag prints it (the cross-stack import name). */
  bucketArn(bucket: s3.IBucket): { arn: string; nagName: string } {
    const owner = Stack.of(bucket);
    if (owner === this.stack) {
      const cfn = bucket.node.defaultChild as CfnElement;
      return { arn: bucket.bucketArn, nagName: `<${this.stack.resolve(this.stack.getLogicalId(cfn))}.Arn>` };
    }
    const arn = owner.exportValue(bucket.bucketArn);
    const imported = this.stack.resolve(arn) as { 'Fn::ImportValue'?: unknown };
    if (typeof imported['Fn::ImportValue'] !== 'string') {
      throw new Error(
        `the lake bucket ARN must import as a named export, but ${JSON.stringify(imported)} was resolved`,
      );
    }
    return { arn, nagName: imported['Fn::ImportValue'] };
  }

  /** Names a bucket in a function's environment and grants exactly the object access given. */
  bindObjects(fn: MlopsFunction, name: string, bucket: s3.IBucket, access: ObjectAccess, why: string): void {
    fn.function.addEnvironment(name, bucket.bucketName);
    this.objects((fn.function as lambda.Function).role!, bucket, access, why);
  }

  /** Grants object access to a role, with the lake key through S3 for what it reads and writes. */
  objects(role: iam.IRole, bucket: s3.IBucket, access: ObjectAccess, why: string): void {
    const { arn, nagName } = this.bucketArn(bucket);
    const kms: string[] = [];
    const wildcards = new Set<string>();
    if (access.read !== undefined) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [`${arn}/${access.read}*`] }),
      );
      wildcards.add(access.read);
      kms.push('kms:Decrypt');
    }
    if (access.list !== undefined) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket', 's3:GetBucketLocation'],
          resources: [arn],
          ...(access.list ? { conditions: { StringLike: { 's3:prefix': [`${access.list}*`] } } } : {}),
        }),
      );
    }
    if (access.write !== undefined) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
          resources: [`${arn}/${access.write}*`],
        }),
      );
      wildcards.add(access.write);
      // Multipart uploads (SageMaker's model upload, Athena's UNLOAD) decrypt the data key again.
      kms.push('kms:GenerateDataKey', 'kms:Decrypt');
    }
    if (kms.length > 0) role.addToPrincipalPolicy(this.keyViaS3([...new Set(kms)]));
    for (const prefix of wildcards) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagName}/${prefix}*]`,
        reason: `Object access is granted on the key prefix "${prefix || '(whole bucket)'}" only: ${why}.`,
      });
    }
  }

  /** The lake key's given actions, only in calls S3 makes for the principal. */
  keyViaS3(actions: string[]): iam.PolicyStatement {
    return new iam.PolicyStatement({
      actions,
      resources: [this.lake.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${this.stack.region}.amazonaws.com` } },
    });
  }

  /**
   * What `athena:startQueryExecution.sync` in the lake workgroup needs: the query actions on the
   * workgroup, Glue reads of the lake database's tables, and the workgroup's result prefix. The
   * data each query reads or UNLOADs is granted separately, per pipeline.
   */
  query(role: iam.IRole): void {
    const glueArn = (resource: string, resourceName?: string) =>
      this.stack.formatArn({ service: 'glue', resource, resourceName });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:StopQueryExecution'],
        resources: [
          this.stack.formatArn({
            service: 'athena',
            resource: 'workgroup',
            resourceName: this.lake.workGroupName,
          }),
        ],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions'],
        resources: [
          glueArn('catalog'),
          glueArn('database', this.lake.databaseName),
          glueArn('table', `${this.lake.databaseName}/*`),
        ],
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:glue:${this.stack.region}:${this.stack.account}:table/${this.lake.databaseName}/*]`,
      reason:
        'The pipeline queries the lake table its execution input names (any table of the lake database); Glue reads only, on that one database.',
    });
    this.objects(
      role,
      this.lake.athenaResults,
      { read: ATHENA_RESULTS_PREFIX, list: ATHENA_RESULTS_PREFIX, write: ATHENA_RESULTS_PREFIX },
      "Athena names each result object after its query execution id, known only at run time, under the workgroup's result prefix",
    );
  }

  /** Acknowledges the `<function ARN>:*` grant CDK gives a state machine for each Lambda task. */
  acknowledgeInvoke(role: iam.IRole, functions: readonly MlopsFunction[]): void {
    for (const fn of functions) {
      const id = this.stack.resolve(this.stack.getLogicalId(fn.function.node.defaultChild as CfnElement));
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${id}.Arn>:*]`,
        reason:
          'lambda:invoke tasks are granted on the function and its qualified ARNs (versions, aliases) of this one function, as CDK renders every LambdaInvoke grant.',
      });
    }
  }
}
