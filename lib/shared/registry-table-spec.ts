/**
 * The registry table's shape, the one contract between the construct that creates it on AWS
 * (`stacks/registry-stack.ts`) and the adapter that reads and writes it
 * (`lib/adapters/dynamodb/registry-table.ts`, which also creates it for the local runtime and tests).
 * Plain data, so the stack needs no AWS SDK import to read it.
 */
/** Key and index names of the registry table, as the CDK stack and the local runtime create it. */
export const REGISTRY_TABLE_SPEC = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  billingMode: 'PAY_PER_REQUEST',
  globalSecondaryIndexes: [
    {
      /**
       * Listings: `RM` → registered models by name, `EXP` → experiments by name,
       * `EXPRUNS#<experimentId>` → runs by start time, `MVRUN#<runId>` → model versions of a run,
       * `RMTAG#<digest>` → models with one tag key and value, by name, `EXPMETRIC#<experimentId>#<key>`
       * → an experiment's runs by their latest value of a metric.
       */
      indexName: 'gsi1',
      partitionKey: { name: 'gsi1pk', type: 'S' },
      sortKey: { name: 'gsi1sk', type: 'S' },
      projectionType: 'ALL',
    },
  ],
  /** Epoch seconds (a record's `expiresAt`); only short-lived idempotency claims carry it. The core never relies on deletion. */
  timeToLiveAttribute: 'ttl',
} as const;
