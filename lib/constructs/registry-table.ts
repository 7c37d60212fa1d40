/**
 * The registry's DynamoDB table, built from {@link REGISTRY_TABLE_SPEC} (keys, TTL, the `gsi1`
 * index): on-demand, encrypted with the lake key, point-in-time recovery as the environment says,
 * deletion protection where it is retained. Callers get named calls with `Binding.table`.
 *
 * @example
 * const table = new RegistryTable(this, 'Table', { encryptionKey: lake.key, pointInTimeRecovery: true, environmentName: 'production' });
 */
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { REGISTRY_TABLE_SPEC } from '../shared/registry-table-spec';

export interface RegistryTableProps {
  /** The lake key: every data store of the kit uses a customer-managed key. */
  readonly encryptionKey: kms.IKey;
  /** Point-in-time recovery (35 days). */
  readonly pointInTimeRecovery: boolean;
  /** Named in the cdk-nag acknowledgement of a disposable registry without PITR. */
  readonly environmentName: string;
  /**
   * RETAIN keeps the table, with deletion protection; DESTROY deletes it with its stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

const attribute = (a: { name: string; type: string }): dynamodb.Attribute => ({
  name: a.name,
  type: a.type as dynamodb.AttributeType,
});

export class RegistryTable extends dynamodb.Table {
  constructor(scope: Construct, id: string, props: RegistryTableProps) {
    const spec = REGISTRY_TABLE_SPEC;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const retain = removalPolicy === RemovalPolicy.RETAIN;
    super(scope, id, {
      partitionKey: attribute(spec.partitionKey),
      sortKey: attribute(spec.sortKey),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: spec.timeToLiveAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.encryptionKey,
      deletionProtection: retain,
      removalPolicy,
    });
    for (const gsi of spec.globalSecondaryIndexes) {
      this.addGlobalSecondaryIndex({
        indexName: gsi.indexName,
        partitionKey: attribute(gsi.partitionKey),
        sortKey: attribute(gsi.sortKey),
        projectionType: gsi.projectionType as dynamodb.ProjectionType,
      });
    }
    // Only where the environment's data is disposable: a retained registry without PITR stays a finding.
    if (!props.pointInTimeRecovery && !retain) {
      Validations.of(this).acknowledge({
        id: 'AwsSolutions-DDB3',
        reason: `Point-in-time recovery follows registry.pointInTimeRecovery, off in ${props.environmentName}, whose data is destroyed with its stacks: its registry holds pre-production registrations that the training pipeline recreates.`,
      });
    }
  }
}
