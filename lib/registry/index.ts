/**
 * Model registry and experiment tracking, MLflow REST compatible, over one DynamoDB table.
 *
 * @example
 * const services = createRegistryServices({
 *   client: new DynamoDBClient({}),
 *   tableName: 'registry',
 *   artifactsBucket: 'artifacts',
 *   events: new RecordingPublisher(),
 * });
 * const res = await handleMlflowRequest(request, services);
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ApiServices } from './api';
import { s3ArtifactLister } from './artifacts';
import { Db } from './db';
import type { EventPublisher } from './events';
import { ModelRegistry, type RegistryLogger } from './models';
import { TrackingStore } from './tracking';

export {
  type ApiServices,
  type HttpRequest,
  type HttpResponse,
  handleMlflowRequest,
  IDEMPOTENT_HEADER,
  MAX_BODY_BYTES,
  MLFLOW_ENDPOINTS,
} from './api';
export { type ArtifactLister, assertSafeArtifactPath, type FileInfoJson, s3ArtifactLister } from './artifacts';
export { Db } from './db';
export { MlflowError, type MlflowErrorCode } from './errors';
export {
  EventBridgePublisher,
  type EventPublisher,
  eventBridgePublisher,
  type ModelVersionPromoted,
  PROMOTION_DETAIL_TYPE,
  PROMOTION_EVENT_SOURCE,
  RecordingPublisher,
} from './events';
export {
  ModelRegistry,
  type ModelRegistryDeps,
  type ModelVersionJson,
  type RegisteredModelJson,
  type RegistryLogger,
} from './models';
export { createRegistryTable, REGISTRY_TABLE_SPEC } from './table';
export { type ExperimentJson, type RunJson, TrackingStore, type TrackingStoreDeps } from './tracking';

export interface RegistryServicesConfig {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** Bucket for default artifact locations: experiments at `s3://<bucket>/mlflow/<experiment_id>`. */
  readonly artifactsBucket: string;
  readonly events: EventPublisher;
  /** Lists run artifacts under `s3://<artifactsBucket>/mlflow` (`artifacts/list`). @default not served */
  readonly s3?: S3Client;
  readonly logger?: RegistryLogger;
  /** Epoch ms. @default Date.now */
  readonly clock?: () => number;
}

/** Wires the tracking store and the registry (which resolves `runs:/` sources through tracking). */
export function createRegistryServices(config: RegistryServicesConfig): ApiServices {
  const db = new Db(config.client, config.tableName);
  const tracking = new TrackingStore({
    db,
    defaultArtifactRoot: `s3://${config.artifactsBucket}/mlflow`,
    clock: config.clock,
  });
  const registry = new ModelRegistry({
    db,
    events: config.events,
    logger: config.logger,
    clock: config.clock,
    resolveRunsUri: (runId, path) => tracking.resolveRunsUri(runId, path),
  });
  const artifacts = config.s3 && s3ArtifactLister(config.s3, `s3://${config.artifactsBucket}/mlflow`);
  return { registry, tracking, ...(artifacts && { artifacts }) };
}
