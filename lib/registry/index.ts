/**
 * Model registry and experiment tracking, MLflow REST compatible, over ports: a {@link RecordStore}
 * for storage, an {@link EventPublisher} for promotion events, an {@link ArtifactLister} for
 * `artifacts/list`. The adapters (DynamoDB, EventBridge, S3) are in `lib/adapters`; the Lambda wires them.
 *
 * @example
 * const services = createRegistryServices({
 *   store: new DynamoRegistryStore(new DynamoDBClient({}), 'registry'),
 *   artifactsBucket: 'artifacts',
 *   events: new RecordingPublisher(),
 * });
 * const res = await handleMlflowRequest(request, services);
 */
import type { ApiServices } from './api';
import type { ArtifactLister } from './artifacts';
import type { EventPublisher } from './events';
import { ModelRegistry, type RegistryLogger } from './models';
import type { RecordStore } from './store';
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
export {
  ACCESS_ROUTES,
  type AccessRoute,
  accessOf,
  callerIsOneOf,
  type ProductionGuard,
  REGISTRY_ACCESS_LEVELS,
  type RegistryAccess,
} from './access';
export { type ArtifactLister, assertSafeArtifactPath, type FileInfoJson } from './artifacts';
export { MlflowError, type MlflowErrorCode } from './errors';
export {
  type EventPublisher,
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
export { OUTBOX_RETRY_AFTER_MS } from './models/outbox';
export type { RecordStore } from './store';
export { type ExperimentJson, type RunJson, TrackingStore, type TrackingStoreDeps } from './tracking';

export interface RegistryServicesConfig {
  readonly store: RecordStore;
  /** Bucket for default artifact locations: experiments at `s3://<bucket>/mlflow/<experiment_id>`. */
  readonly artifactsBucket: string;
  readonly events: EventPublisher;
  /** Lists run artifacts under `s3://<artifactsBucket>/mlflow` (`artifacts/list`). @default not served */
  readonly artifacts?: ArtifactLister;
  readonly logger?: RegistryLogger;
  /** Epoch ms. @default Date.now */
  readonly clock?: () => number;
  /** Fresh unique ids. @default randomUUID */
  readonly ids?: () => string;
}

/** The root every experiment's default artifact location is under. */
export const artifactRoot = (artifactsBucket: string): string => `s3://${artifactsBucket}/mlflow`;

/** Wires the tracking store and the registry (which resolves `runs:/` sources through tracking). */
export function createRegistryServices(config: RegistryServicesConfig): ApiServices {
  const tracking = new TrackingStore({
    store: config.store,
    defaultArtifactRoot: artifactRoot(config.artifactsBucket),
    clock: config.clock,
    ids: config.ids,
  });
  const registry = new ModelRegistry({
    store: config.store,
    events: config.events,
    logger: config.logger,
    clock: config.clock,
    ids: config.ids,
    resolveRunsUri: (runId, path) => tracking.resolveRunsUri(runId, path),
  });
  return { registry, tracking, ...(config.artifacts && { artifacts: config.artifacts }) };
}
