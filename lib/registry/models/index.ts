/**
 * The MLflow model registry: registered models, versions, stages and aliases, and promotion events.
 * Knows nothing of HTTP, Lambda or the storage engine; throws {@link MlflowError}. Each concern is a
 * file: `registered-models.ts`, `versions.ts`, `stages.ts` (stages and aliases), `search.ts`,
 * `outbox.ts`; `records.ts` says what is stored and why every rule is a write of one record.
 */
import { randomUUID } from 'node:crypto';
import type { EventPublisher } from '../events';
import type { RecordStore } from '../store';
import type { RegistryContext, RegistryLogger } from './context';
import type { ModelVersionJson, RegisteredModelJson } from './json';
import { flushAllPendingEvents, flushPendingEvents } from './outbox';
import type { Tag } from './records';
import * as models from './registered-models';
import * as search from './search';
import * as stages from './stages';
import * as versions from './versions';

export type { RegistryLogger } from './context';
export type { ModelVersionJson, RegisteredModelJson } from './json';
export type { Tag } from './records';

export interface ModelRegistryDeps {
  readonly store: RecordStore;
  readonly events: EventPublisher;
  readonly logger?: RegistryLogger;
  /** Epoch ms. @default Date.now */
  readonly clock?: () => number;
  /** Fresh unique ids. @default randomUUID */
  readonly ids?: () => string;
  /**
   * Resolves a `runs:/<run_id>/<path>` source to a storage URI (the tracking store provides it).
   * @default sources are returned unchanged
   */
  readonly resolveRunsUri?: (runId: string, path: string) => Promise<string | undefined>;
  /**
   * Aliases whose move is a promotion event.
   * @default ['champion']
   */
  readonly promotionAliases?: readonly string[];
}

type SearchInput = { filter?: string; maxResults?: number; orderBy?: readonly string[]; pageToken?: string };
type VersionRef = { name: string; version: string | number };

/**
 * The MLflow model registry over a {@link RecordStore}.
 *
 * @example
 * const registry = new ModelRegistry({ store, events: new RecordingPublisher() });
 * await registry.createRegisteredModel({ name: 'fraud' });
 * const v = await registry.createModelVersion({ name: 'fraud', source: 's3://b/fraud/1', runId: 'r1' });
 * await registry.transitionStage({ name: 'fraud', version: v.version, stage: 'Production', archiveExistingVersions: true });
 */
export class ModelRegistry {
  private readonly ctx: RegistryContext;

  constructor(deps: ModelRegistryDeps) {
    this.ctx = {
      store: deps.store,
      events: deps.events,
      logger: deps.logger,
      now: deps.clock ?? Date.now,
      newId: deps.ids ?? randomUUID,
      resolveRunsUri: deps.resolveRunsUri,
      promotionAliases: deps.promotionAliases ?? ['champion'],
    };
  }

  createRegisteredModel(input: { name: string; description?: string; tags?: readonly Tag[] }): Promise<RegisteredModelJson> {
    return models.createRegisteredModel(this.ctx, input);
  }
  getRegisteredModel(name: string): Promise<RegisteredModelJson> {
    return models.getRegisteredModel(this.ctx, name);
  }
  updateRegisteredModel(input: { name: string; description?: string }): Promise<RegisteredModelJson> {
    return models.updateRegisteredModel(this.ctx, input);
  }
  renameRegisteredModel(input: { name: string; newName: string }): Promise<RegisteredModelJson> {
    return models.renameRegisteredModel(this.ctx, input);
  }
  deleteRegisteredModel(name: string): Promise<void> {
    return models.deleteRegisteredModel(this.ctx, name);
  }
  getLatestVersions(input: { name: string; stages?: readonly string[] }): Promise<ModelVersionJson[]> {
    return models.getLatestVersions(this.ctx, input);
  }
  setRegisteredModelTag(input: { name: string; key: string; value?: string }): Promise<void> {
    return models.setRegisteredModelTag(this.ctx, input);
  }
  deleteRegisteredModelTag(input: { name: string; key: string }): Promise<void> {
    return models.deleteRegisteredModelTag(this.ctx, input);
  }
  searchRegisteredModels(input: SearchInput): Promise<{ registered_models: RegisteredModelJson[]; next_page_token?: string }> {
    return search.searchRegisteredModels(this.ctx, input);
  }

  /** See {@link versions.createModelVersion}: `idempotent` dedupes `(name, runId, source)`. */
  createModelVersion(
    input: { name: string; source: string; runId?: string; runLink?: string; description?: string; tags?: readonly Tag[] },
    options: { idempotent?: boolean } = {},
  ): Promise<ModelVersionJson> {
    return versions.createModelVersion(this.ctx, input, options);
  }
  getModelVersion(input: VersionRef): Promise<ModelVersionJson> {
    return versions.getModelVersion(this.ctx, input);
  }
  updateModelVersion(input: VersionRef & { description?: string }): Promise<ModelVersionJson> {
    return versions.updateModelVersion(this.ctx, input);
  }
  deleteModelVersion(input: VersionRef): Promise<void> {
    return stages.deleteModelVersion(this.ctx, input);
  }
  getDownloadUri(input: VersionRef): Promise<string> {
    return versions.getDownloadUri(this.ctx, input);
  }
  setModelVersionTag(input: VersionRef & { key: string; value?: string }): Promise<void> {
    return versions.setModelVersionTag(this.ctx, input);
  }
  deleteModelVersionTag(input: VersionRef & { key: string }): Promise<void> {
    return versions.deleteModelVersionTag(this.ctx, input);
  }
  searchModelVersions(input: SearchInput): Promise<{ model_versions: ModelVersionJson[]; next_page_token?: string }> {
    return search.searchModelVersions(this.ctx, input);
  }

  transitionStage(input: VersionRef & { stage: string; archiveExistingVersions?: boolean }): Promise<ModelVersionJson> {
    return stages.transitionStage(this.ctx, input);
  }
  setAlias(input: { name: string; alias: string; version: string | number }): Promise<void> {
    return stages.setAlias(this.ctx, input);
  }
  deleteAlias(input: { name: string; alias: string }): Promise<void> {
    return stages.deleteAlias(this.ctx, input);
  }
  getByAlias(input: { name: string; alias: string }): Promise<ModelVersionJson> {
    return stages.getByAlias(this.ctx, input);
  }

  /** Re-sends promotion events a failed publish left in the model's outbox; resolves how many. */
  flushPendingEvents(name: string, olderThanMs = 0): Promise<number> {
    return flushPendingEvents(this.ctx, name, olderThanMs);
  }

  /** {@link flushPendingEvents} for every model (the scheduled flush); resolves the events sent per model. */
  flushAllPendingEvents(olderThanMs: number): Promise<Record<string, number>> {
    return flushAllPendingEvents(this.ctx, olderThanMs);
  }
}

