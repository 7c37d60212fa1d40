/**
 * `AWS::DynamoDB::Table` / `AWS::DynamoDB::GlobalTable` template resources → CreateTable inputs.
 *
 * Pure: the caller passes the resource as it sits in the template plus a resolver for intrinsics
 * (`Ref`, `Fn::Join`, … inside names), so this module needs no knowledge of the assembly.
 */
import type {
  AttributeDefinition,
  CreateTableCommandInput,
  GlobalSecondaryIndex,
  KeySchemaElement,
  LocalSecondaryIndex,
  Projection,
  ProvisionedThroughput,
} from '@aws-sdk/client-dynamodb';

/** A template resource: `{ Type, Properties }`. */
export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
}

/** Resolves CloudFormation intrinsics in a value to a plain value. */
export type Resolve = (value: unknown) => unknown;

/** What the engine needs to create one table. */
export interface TableSpec {
  /** The template's logical id, for error messages. */
  readonly logicalId: string;
  readonly input: CreateTableCommandInput;
  /** Settings the local engine does not apply (e.g. TTL), so `mlops up` can say so once. */
  readonly ignored: readonly string[];
}

export const TABLE_TYPES: ReadonlySet<string> = new Set([
  'AWS::DynamoDB::Table',
  'AWS::DynamoDB::GlobalTable',
]);

// Provisioned tables without throughput (CloudFormation would reject them) still get a table
// locally: dynalite does not meter, so the numbers only have to be valid.
const DEFAULT_THROUGHPUT: ProvisionedThroughput = { ReadCapacityUnits: 5, WriteCapacityUnits: 5 };

/**
 * Builds the CreateTable input for a table resource. The name is `Properties.TableName` or, when
 * the template leaves it to CloudFormation, `physicalName` (what the intrinsic resolver answers
 * for `Ref`), else the logical id.
 *
 * @example
 * const spec = tableSpecFromResource('Registry', template.Resources.Registry, resolve);
 * await dynamo.ensureTables([spec]);
 */
export function tableSpecFromResource(
  logicalId: string,
  resource: TemplateResource,
  resolve: Resolve = (v) => v,
  physicalName?: string,
): TableSpec {
  if (!TABLE_TYPES.has(resource.Type)) {
    throw new Error(
      `Resource ${logicalId} must be an AWS::DynamoDB::Table or GlobalTable, but ${resource.Type} was provided.`,
    );
  }
  const p = (resolve(resource.Properties ?? {}) ?? {}) as Record<string, unknown>;
  const name = (p['TableName'] as string | undefined) ?? physicalName ?? logicalId;
  if (typeof name !== 'string' || name === '') {
    throw new Error(
      `Table ${logicalId} must resolve to a non-empty TableName, but ${JSON.stringify(name)} was provided.`,
    );
  }
  const keySchema = p['KeySchema'] as KeySchemaElement[] | undefined;
  const attributes = p['AttributeDefinitions'] as AttributeDefinition[] | undefined;
  if (!Array.isArray(keySchema) || keySchema.length === 0 || !Array.isArray(attributes)) {
    throw new Error(
      `Table ${logicalId} must have KeySchema and AttributeDefinitions, but they were missing.`,
    );
  }
  // GlobalTable has no table-level BillingMode default; it is PAY_PER_REQUEST unless
  // WriteProvisionedThroughputSettings says otherwise.
  const isGlobal = resource.Type === 'AWS::DynamoDB::GlobalTable';
  const billing = (p['BillingMode'] as string | undefined) ?? (isGlobal ? 'PAY_PER_REQUEST' : 'PROVISIONED');
  const onDemand = billing === 'PAY_PER_REQUEST';
  const throughput = (t: unknown): ProvisionedThroughput => {
    const given = t as { ReadCapacityUnits?: number; WriteCapacityUnits?: number } | undefined;
    return {
      ReadCapacityUnits: Number(given?.ReadCapacityUnits ?? DEFAULT_THROUGHPUT.ReadCapacityUnits),
      WriteCapacityUnits: Number(given?.WriteCapacityUnits ?? DEFAULT_THROUGHPUT.WriteCapacityUnits),
    };
  };

  const gsis = (p['GlobalSecondaryIndexes'] as Record<string, unknown>[] | undefined)?.map(
    (g): GlobalSecondaryIndex => ({
      IndexName: g['IndexName'] as string,
      KeySchema: g['KeySchema'] as KeySchemaElement[],
      Projection: g['Projection'] as Projection,
      ...(onDemand ? {} : { ProvisionedThroughput: throughput(g['ProvisionedThroughput']) }),
    }),
  );
  const lsis = (p['LocalSecondaryIndexes'] as Record<string, unknown>[] | undefined)?.map(
    (l): LocalSecondaryIndex => ({
      IndexName: l['IndexName'] as string,
      KeySchema: l['KeySchema'] as KeySchemaElement[],
      Projection: l['Projection'] as Projection,
    }),
  );

  const ignored: string[] = [];
  if (p['TimeToLiveSpecification']) ignored.push('TimeToLiveSpecification (items do not expire locally)');
  if (p['StreamSpecification']) ignored.push('StreamSpecification (no DynamoDB Streams locally)');
  if (isGlobal && p['Replicas']) ignored.push('Replicas (one local copy)');

  return {
    logicalId,
    input: {
      TableName: name,
      KeySchema: keySchema,
      AttributeDefinitions: attributes,
      ...(onDemand
        ? { BillingMode: 'PAY_PER_REQUEST' }
        : { ProvisionedThroughput: throughput(p['ProvisionedThroughput']) }),
      ...(gsis?.length ? { GlobalSecondaryIndexes: gsis } : {}),
      ...(lsis?.length ? { LocalSecondaryIndexes: lsis } : {}),
    },
    ignored,
  };
}

/**
 * Every table resource in a template's `Resources` map, as specs.
 *
 * @example
 * const specs = tableSpecsFromTemplate(template.Resources, resolve);
 */
export function tableSpecsFromTemplate(
  resources: Readonly<Record<string, TemplateResource>>,
  resolve: Resolve = (v) => v,
): TableSpec[] {
  return Object.entries(resources)
    .filter(([, r]) => TABLE_TYPES.has(r.Type))
    .map(([id, r]) => tableSpecFromResource(id, r, resolve));
}
