/**
 * The registry's single DynamoDB table: its shape ({@link REGISTRY_TABLE_SPEC}, shared by the CDK stack
 * and the local runtime so both build the same table) and the item keys each record of the cores'
 * storage port (`lib/registry/store.ts`) is written under.
 *
 * Why this layout: DynamoDB Local engines used by the kit (dynalite) have no TransactWriteItems, and
 * the same code must run locally and on AWS. So every invariant is held by a conditional write on ONE
 * item, which is what the cores ask of the port:
 * - a registered model lives under an immutable id (`RM#<id>`); its name is a pointer item
 *   (`RMNAME#<name>`), so a rename rewrites two pointers and the head, never the versions;
 * - the model's head item (`RM#<id>`/`#HEAD`) holds every cross-version fact, so "transition and
 *   archive the others" or "move an alias and publish" is a single conditional UpdateItem; it stays
 *   a constant size (stages of versions outside Staging/Production are compacted onto the versions)
 *   and carries what a search page shows (tags, latest version per stage), so a page of models is
 *   one Query of `gsi1` plus one BatchGetItem of their latest versions;
 * - a model tag is also an item (`T#<key>`) listed in `gsi1` under a digest of key and value, by
 *   model name: `tags.k = 'v'` is a Query, confirmed against the heads;
 * - a version item's key is its number (`V#<padded>`), so `attribute_not_exists` on the put IS the
 *   allocation;
 * - run data is one item per param, tag and latest metric (`RUN#<id>` partition), so a run never nears
 *   the 400 KB item limit, and metric history is one item per point in its own partition
 *   (`MH#<run>#<key>`), read back page by page.
 */
import { createHash } from 'node:crypto';
import { CreateTableCommand, type DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import type { RecordRef, StoredRecord } from '../../registry/store';
import { REGISTRY_TABLE_SPEC } from '../../shared/registry-table-spec';

export { REGISTRY_TABLE_SPEC } from '../../shared/registry-table-spec';

/** The first GSI's name, used by the adapter's listings. */
export const GSI1 = REGISTRY_TABLE_SPEC.globalSecondaryIndexes[0].indexName;

/**
 * Creates the registry table from {@link REGISTRY_TABLE_SPEC} (local runtime and tests; on AWS the CDK
 * stack builds it). TTL is enabled where the engine supports it (dynalite does not; nothing depends on it).
 *
 * @example
 * await createRegistryTable(new DynamoDBClient({ endpoint: 'http://127.0.0.1:4567' }), 'registry');
 */
export async function createRegistryTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const spec = REGISTRY_TABLE_SPEC;
  const gsiAttributes = spec.globalSecondaryIndexes.flatMap((g) => [g.partitionKey, g.sortKey]);
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: spec.billingMode,
      AttributeDefinitions: [spec.partitionKey, spec.sortKey, ...gsiAttributes].map((a) => ({
        AttributeName: a.name,
        AttributeType: a.type,
      })),
      KeySchema: [
        { AttributeName: spec.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: spec.sortKey.name, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: spec.globalSecondaryIndexes.map((g) => ({
        IndexName: g.indexName,
        KeySchema: [
          { AttributeName: g.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: g.sortKey.name, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: g.projectionType },
      })),
    }),
  );
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: spec.timeToLiveAttribute, Enabled: true },
      }),
    );
  } catch (error) {
    // dynalite answers UnknownOperationException; expired claims are ignored by the core anyway.
    if ((error as { name?: string }).name !== 'UnknownOperationException') throw error;
  }
}

/** Width of zero-padded version numbers in sort keys, so lexical order is numeric order. */
const VERSION_WIDTH = 10;

export const padVersion = (version: number): string => String(version).padStart(VERSION_WIDTH, '0');

/**
 * Encodes a (possibly negative) safe integer so that lexical order of the strings is numeric order.
 */
export const sortableInt = (n: number): string => String(n + 2 ** 53).padStart(17, '0');

/**
 * Encodes a double so that lexical order of the strings is numeric order (IEEE 754 bits, sign bit
 * flipped for positives, every bit flipped for negatives; -0 as 0).
 */
export function sortableDouble(x: number): string {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleBE(x + 0);
  if (bytes[0]! & 0x80) for (let i = 0; i < 8; i++) bytes[i] = ~bytes[i]! & 0xff;
  else bytes[0] = bytes[0]! | 0x80;
  return bytes.toString('hex');
}

/** The `gsi1` partition of an experiment's runs by their latest value of metric `key`. */
export const runMetricPartition = (experimentId: string, key: string): string => `EXPMETRIC#${experimentId}#${key}`;

export type Key = { pk: string; sk: string };

/** The item key of each record of the storage port. */
export function keyOf(ref: RecordRef): Key {
  switch (ref.kind) {
    case 'modelName':
      return { pk: `RMNAME#${ref.name}`, sk: '#' };
    case 'model':
      return { pk: `RM#${ref.modelId}`, sk: '#HEAD' };
    case 'modelTag':
      return { pk: `RM#${ref.modelId}`, sk: `T#${ref.key}` };
    case 'modelVersion':
      return { pk: `RM#${ref.modelId}`, sk: `V#${padVersion(ref.version)}` };
    case 'versionTag':
      return { pk: `RM#${ref.modelId}`, sk: `VT#${padVersion(ref.version)}#${ref.key}` };
    case 'registration':
      return { pk: `RM#${ref.modelId}`, sk: `IDEM#${ref.hash}` };
    case 'upgrade':
      return { pk: `UPGRADE#${ref.name}`, sk: '#' };
    case 'experimentSequence':
      return { pk: 'EXPSEQ', sk: '#' };
    case 'experimentName':
      return { pk: `EXPNAME#${ref.name}`, sk: '#' };
    case 'experiment':
      return { pk: `EXP#${ref.experimentId}`, sk: '#' };
    case 'run':
      return { pk: `RUN#${ref.runId}`, sk: '#INFO' };
    case 'runParam':
      return { pk: `RUN#${ref.runId}`, sk: `P#${ref.key}` };
    case 'runTag':
      return { pk: `RUN#${ref.runId}`, sk: `T#${ref.key}` };
    case 'runLatestMetric':
      return { pk: `RUN#${ref.runId}`, sk: `L#${ref.key}` };
    case 'metricPoint':
      return {
        pk: metricHistoryPk(ref.runId, ref.key),
        sk: `${sortableInt(ref.timestamp)}#${sortableInt(ref.step)}#${ref.value}`,
      };
  }
}

export const modelPk = (modelId: string) => `RM#${modelId}`;
export const runPk = (runId: string) => `RUN#${runId}`;
export const metricHistoryPk = (runId: string, key: string) => `MH#${runId}#${key}`;

/**
 * The `gsi1` partition of the models tagged `key` = `value`: a digest, so a tag value of any length
 * (MLflow allows 5,000 characters) fits a key and no key/value pair can collide with another.
 */
export const modelTagPartition = (key: string, value: string): string =>
  `RMTAG#${createHash('sha256').update(JSON.stringify([key, value])).digest('base64url')}`;

/** The `gsi1` partition of the model versions tagged `key` = `value` (a digest, as {@link modelTagPartition}). */
export const versionTagPartition = (key: string, value: string): string =>
  `MVTAG#${createHash('sha256').update(JSON.stringify([key, value])).digest('base64url')}`;

/**
 * The `gsi1` entry of a record, if it is listed there: `RM` → registered models by name, `EXP` →
 * experiments by name, `EXPRUNS#<experimentId>` → runs by start time, `MVRUN#<runId>` → model
 * versions of a run, `RMTAG#<digest of key and value>` → models with that tag, by name (tag
 * records written before the tag index carry no `name` and are not listed until rewritten),
 * `MVTAG#<digest of key and value>` → model versions with that tag, by model id and version,
 * `EXPMETRIC#<experimentId>#<key>` → runs by their latest value of a metric (latest-metric records
 * written before they carried `experimentId` are not listed until rewritten).
 */
export function indexEntryOf(ref: RecordRef, record: StoredRecord): { gsi1pk: string; gsi1sk: string } | undefined {
  switch (ref.kind) {
    case 'model':
      return { gsi1pk: 'RM', gsi1sk: record.name as string };
    case 'experiment':
      return { gsi1pk: 'EXP', gsi1sk: record.name as string };
    case 'run':
      return {
        gsi1pk: `EXPRUNS#${record.experimentId as string}`,
        gsi1sk: `${sortableInt(record.startTime as number)}#${ref.runId}`,
      };
    case 'modelTag':
      return typeof record.name === 'string'
        ? { gsi1pk: modelTagPartition(ref.key, record.value as string), gsi1sk: record.name }
        : undefined;
    case 'versionTag':
      return { gsi1pk: versionTagPartition(ref.key, record.value as string), gsi1sk: `${ref.modelId}#${padVersion(ref.version)}` };
    case 'runLatestMetric':
      return typeof record.experimentId === 'string'
        ? {
            gsi1pk: runMetricPartition(record.experimentId, ref.key),
            gsi1sk: `${sortableDouble(record.value as number)}#${ref.runId}`,
          }
        : undefined;
    case 'modelVersion':
      return record.runId
        ? { gsi1pk: `MVRUN#${record.runId as string}`, gsi1sk: `${ref.modelId}#${padVersion(ref.version)}` }
        : undefined;
    default:
      return undefined;
  }
}

/** The record an item read back holds (its inverse of {@link keyOf}). */
export function refOf(item: Record<string, unknown>): RecordRef {
  const pk = item.pk as string;
  const sk = item.sk as string;
  const [prefix] = pk.split('#', 1);
  const id = pk.slice(prefix!.length + 1);
  if (prefix === 'RM') {
    if (sk === '#HEAD') return { kind: 'model', modelId: id };
    if (sk.startsWith('T#')) return { kind: 'modelTag', modelId: id, key: sk.slice(2) };
    if (sk.startsWith('V#')) return { kind: 'modelVersion', modelId: id, version: Number(sk.slice(2)) };
    if (sk.startsWith('VT#')) {
      const cut = sk.indexOf('#', 3);
      return { kind: 'versionTag', modelId: id, version: Number(sk.slice(3, cut)), key: sk.slice(cut + 1) };
    }
    if (sk.startsWith('IDEM#')) return { kind: 'registration', modelId: id, hash: sk.slice(5) };
  }
  if (prefix === 'RUN') {
    if (sk === '#INFO') return { kind: 'run', runId: id };
    const kind = ({ P: 'runParam', T: 'runTag', L: 'runLatestMetric' } as const)[sk[0] as 'P'];
    if (kind && sk[1] === '#') return { kind, runId: id, key: sk.slice(2) };
  }
  if (prefix === 'EXP') return { kind: 'experiment', experimentId: id };
  if (prefix === 'RMNAME') return { kind: 'modelName', name: id };
  if (prefix === 'EXPNAME') return { kind: 'experimentName', name: id };
  if (prefix === 'EXPSEQ') return { kind: 'experimentSequence' };
  if (prefix === 'UPGRADE') return { kind: 'upgrade', name: id };
  if (prefix === 'MH') {
    // Run ids are hex, so the first '#' ends the run id; the metric key may hold any character.
    const cut = id.indexOf('#');
    return {
      kind: 'metricPoint',
      runId: id.slice(0, cut),
      key: id.slice(cut + 1),
      timestamp: item.timestamp as number,
      step: item.step as number,
      value: item.value as number,
    };
  }
  throw new Error(`The registry table holds an item the registry does not know: pk=${pk}, sk=${sk}`);
}
