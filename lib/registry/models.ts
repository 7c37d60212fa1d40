/**
 * The model registry core: registered models, model versions, stages and aliases, over the single
 * table described in `table.ts`. Knows nothing of HTTP or Lambda; throws {@link MlflowError}.
 *
 * Consistency model (see `table.ts` for why there are no transactions):
 * - a version number is allocated by a conditional put of the version item on `max + 1`, retried with
 *   jitter on conflict, so concurrent creates get 1..n with no duplicate and no gap;
 * - stages, aliases and the event outbox live on the model's head item; every read-modify-write of
 *   them (transition with archive, alias moves, version delete) is one UpdateItem conditioned on the
 *   head's revision `rev`, so racing writers never lose an update: the loser re-reads and re-applies;
 * - promotion events are written into the head's outbox in the same UpdateItem as the promotion,
 *   published after it, and removed once EventBridge accepted them. A failed publish leaves the event
 *   in the outbox (the write stands, the caller gets its answer) and the next write to the model, or
 *   {@link ModelRegistry.flushPendingEvents}, sends it again: at-least-once delivery, deduped on `eventId`.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Db, Item } from './db';
import { retryOnConflict } from './db';
import { alreadyExists, invalidParameter, MlflowError, notFound } from './errors';
import type { EventPublisher, ModelVersionPromoted } from './events';
import { GSI1, keys, padVersion } from './table';
import {
  ACTIVE_STAGES,
  canonicalStage,
  parseVersion,
  requireName,
  STAGES,
  type Stage,
  validateAlias,
  validateKey,
  validateSource,
  validateTagValue,
} from './validation';
import {
  checkMaxResults,
  clauseMatches,
  type FilterClause,
  paginate,
  parseFilter,
  parseOrderBy,
  sortBy,
} from './search';

/** `{key, value}` as MLflow serialises tags. */
export interface Tag {
  key: string;
  value: string;
}

/** MLflow's `ModelVersion` JSON; unset fields are omitted. */
export interface ModelVersionJson {
  name: string;
  version: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  current_stage: Stage;
  description?: string;
  source: string;
  run_id?: string;
  status: 'READY';
  run_link?: string;
  tags?: Tag[];
  aliases?: string[];
}

/** MLflow's `RegisteredModel` JSON; unset fields are omitted. */
export interface RegisteredModelJson {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description?: string;
  latest_versions?: ModelVersionJson[];
  tags?: Tag[];
  aliases?: { alias: string; version: string }[];
}

/** What the registry logs through; the Lambda passes its powertools logger. */
export interface RegistryLogger {
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

export interface ModelRegistryDeps {
  readonly db: Db;
  readonly events: EventPublisher;
  readonly logger?: RegistryLogger;
  /** Epoch ms. @default Date.now */
  readonly clock?: () => number;
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

/** Head-item map entry for a version that left stage `None`. */
interface StageEntry {
  stage: Stage | typeof DELETED;
  at: number;
}

interface Head extends Item {
  modelId: string;
  name: string;
  description?: string;
  createdAt: number;
  updatedAt: number;
  rev: number;
  stages: Record<string, StageEntry>;
  aliases: Record<string, number>;
  outbox: Record<string, ModelVersionPromoted>;
  deleted?: boolean;
}

/** What a caller gives for a new version. */
interface VersionBase {
  source: string;
  runId?: string;
  runLink?: string;
  description?: string;
  tags: Record<string, string>;
}

interface VersionItem extends Item, VersionBase {
  version: number;
  createdAt: number;
  updatedAt: number;
  idem?: string;
}

/** MLflow's internal stage for soft-deleted versions: numbers are never reused. */
const DELETED = 'Deleted_Internal';
/** A name pointer without a head this old is left over from a crashed create and may be taken over. */
const ORPHAN_POINTER_MS = 10_000;
/** How long a pending idempotency claim blocks others before it is presumed dead (> Lambda timeout). */
const CLAIM_LEASE_MS = 60_000;
/** Outbox entries older than this are re-sent by later writes (younger ones may still be in flight). */
const OUTBOX_RETRY_AFTER_MS = 30_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const modelNotFound = (name: string) => notFound(`Registered Model with name=${name} not found`);
const versionNotFound = (name: string, version: number | string) =>
  notFound(`Model Version (name=${name}, version=${version}) not found`);

/**
 * The MLflow model registry over DynamoDB.
 *
 * @example
 * const registry = new ModelRegistry({ db: new Db(client, 'registry'), events: new RecordingPublisher() });
 * await registry.createRegisteredModel({ name: 'fraud' });
 * const v = await registry.createModelVersion({ name: 'fraud', source: 's3://b/fraud/1', runId: 'r1' });
 * await registry.transitionStage({ name: 'fraud', version: v.version, stage: 'Production', archiveExistingVersions: true });
 */
export class ModelRegistry {
  private readonly db: Db;
  private readonly events: EventPublisher;
  private readonly logger?: RegistryLogger;
  private readonly now: () => number;
  private readonly resolveRunsUri?: ModelRegistryDeps['resolveRunsUri'];
  private readonly promotionAliases: readonly string[];

  constructor(deps: ModelRegistryDeps) {
    this.db = deps.db;
    this.events = deps.events;
    this.logger = deps.logger;
    this.now = deps.clock ?? Date.now;
    this.resolveRunsUri = deps.resolveRunsUri;
    this.promotionAliases = deps.promotionAliases ?? ['champion'];
  }

  // ---------------------------------------------------------------- registered models

  /** Creates a registered model; `RESOURCE_ALREADY_EXISTS` if the name is taken. */
  async createRegisteredModel(input: {
    name: string;
    description?: string;
    tags?: readonly Tag[];
  }): Promise<RegisteredModelJson> {
    const name = requireName(input.name);
    const tags = dedupeTags(input.tags);
    for (const t of tags) validateTag(t);
    const modelId = randomUUID();
    const now = this.now();
    if (!(await this.claimName(name, modelId, now))) {
      throw alreadyExists(`Registered Model (name=${name}) already exists.`);
    }
    // Tags first, head last: the head makes the model visible, with all its tags at once.
    await this.db.batchWrite(
      tags.map((t) => ({ ...keys.modelTag(modelId, t.key), key: t.key, value: t.value })),
    );
    const head: Head = {
      ...keys.modelHead(modelId),
      gsi1pk: 'RM',
      gsi1sk: name,
      modelId,
      name,
      description: input.description || undefined,
      createdAt: now,
      updatedAt: now,
      rev: 0,
      stages: {},
      aliases: {},
      outbox: {},
    };
    await this.db.putIf({ Item: head, ConditionExpression: 'attribute_not_exists(pk)' });
    return modelJson(head, tags, [], false);
  }

  /** Gets a registered model with its tags, aliases and latest version per stage. */
  async getRegisteredModel(name: string): Promise<RegisteredModelJson> {
    const head = await this.loadHead(requireName(name));
    const { tags, versions } = await this.loadPartition(head);
    return modelJson(head, tags, versions, true);
  }

  /** Sets (or clears, with `''`) a registered model's description. */
  async updateRegisteredModel(input: { name: string; description?: string }): Promise<RegisteredModelJson> {
    const name = requireName(input.name);
    const head = await this.loadHead(name);
    const description = input.description || undefined;
    const updated = await this.db.updateIf({
      Key: keys.modelHead(head.modelId),
      UpdateExpression: description
        ? 'SET description = :d, updatedAt = :now, rev = rev + :one'
        : 'REMOVE description SET updatedAt = :now, rev = rev + :one',
      ConditionExpression: '#name = :name AND attribute_not_exists(deleted)',
      ExpressionAttributeNames: { '#name': 'name' },
      ExpressionAttributeValues: {
        ':name': name,
        ':now': this.now(),
        ':one': 1,
        ...(description && { ':d': description }),
      },
    });
    if (!updated) throw modelNotFound(name);
    return this.getRegisteredModel(name);
  }

  /**
   * Renames a model. Versions and aliases are keyed by the model's immutable id, so they follow
   * without being rewritten.
   */
  async renameRegisteredModel(input: { name: string; newName: string }): Promise<RegisteredModelJson> {
    const name = requireName(input.name);
    const newName = requireName(input.newName, 'new_name');
    const head = await this.loadHead(name);
    if (newName === name) return this.getRegisteredModel(name);
    if (!(await this.claimName(newName, head.modelId, this.now()))) {
      throw alreadyExists(`Registered Model (name=${newName}) already exists.`);
    }
    const renamed = await this.db.updateIf({
      Key: keys.modelHead(head.modelId),
      UpdateExpression: 'SET #name = :new, gsi1sk = :new, updatedAt = :now, rev = rev + :one',
      ConditionExpression: '#name = :old AND attribute_not_exists(deleted)',
      ExpressionAttributeNames: { '#name': 'name' },
      ExpressionAttributeValues: { ':new': newName, ':old': name, ':now': this.now(), ':one': 1 },
    });
    if (!renamed) {
      // Renamed or deleted under us: give the claimed name back.
      await this.releaseName(newName, head.modelId);
      throw modelNotFound(name);
    }
    await this.releaseName(name, head.modelId);
    return this.getRegisteredModel(newName);
  }

  /** Deletes a model with its versions, aliases and tags. */
  async deleteRegisteredModel(name: string): Promise<void> {
    requireName(name);
    const head = await this.loadHead(name);
    // Tombstone first so the model disappears at once; the clean-up below may be interrupted safely.
    const marked = await this.db.updateIf({
      Key: keys.modelHead(head.modelId),
      UpdateExpression: 'SET deleted = :t, rev = rev + :one',
      ConditionExpression: '#name = :name AND attribute_not_exists(deleted)',
      ExpressionAttributeNames: { '#name': 'name' },
      ExpressionAttributeValues: { ':t': true, ':name': name, ':one': 1 },
    });
    if (!marked) throw modelNotFound(name);
    await this.releaseName(name, head.modelId);
    const items = await this.db.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.modelHead(head.modelId).pk },
      ProjectionExpression: 'pk, sk',
    });
    await this.db.batchWrite(
      [],
      items.map((i) => ({ pk: i.pk as string, sk: i.sk as string })),
    );
  }

  /** Searches registered models by `name` (`=`, `!=`, `LIKE`, `ILIKE`, `IN`) and `tags.<k>`. */
  async searchRegisteredModels(input: {
    filter?: string;
    maxResults?: number;
    orderBy?: readonly string[];
    pageToken?: string;
  }): Promise<{ registered_models: RegisteredModelJson[]; next_page_token?: string }> {
    const maxResults = checkMaxResults(input.maxResults, 100, 1000);
    const clauses = parseFilter(input.filter);
    for (const c of clauses) {
      if (c.entity === 'attribute' && c.key !== 'name') {
        throw invalidParameter(`Invalid attribute key '${c.key}' specified. Valid keys are '{'name'}'`);
      }
      if (c.entity !== 'attribute' && c.entity !== 'tag') {
        throw invalidParameter(
          `Invalid entity type '${c.entity}'. Registered models can be searched by name and tags.`,
        );
      }
    }
    const order = parseOrderBy(input.orderBy, (k) =>
      ['name', 'timestamp', 'last_updated_timestamp', 'creation_timestamp'].includes(k),
    );
    const exact = clauses.find((c) => c.entity === 'attribute' && c.op === '=');
    let heads: Head[];
    if (exact) {
      const head = await this.findHead(String(exact.value));
      heads = head ? [head] : [];
    } else {
      heads = (await this.db.queryAll({
        IndexName: GSI1,
        KeyConditionExpression: 'gsi1pk = :rm',
        ExpressionAttributeValues: { ':rm': 'RM' },
      })) as Head[];
      heads = heads.filter((h) => !h.deleted);
    }
    heads = heads.filter((h) => clauses.every((c) => c.entity !== 'attribute' || clauseMatches(c, h.name)));
    const tagClauses = clauses.filter((c) => c.entity === 'tag');
    const partitions = new Map<string, Awaited<ReturnType<ModelRegistry['loadPartition']>>>();
    if (tagClauses.length > 0) {
      for (const h of heads) partitions.set(h.modelId, await this.loadPartition(h));
      heads = heads.filter((h) => {
        const tags = partitions.get(h.modelId)!.tags;
        return tagClauses.every((c) => clauseMatches(c, tags.find((t) => t.key === c.key)?.value));
      });
    }
    sortBy(heads, [...order, { key: 'name', ascending: true }], (h, key) =>
      key === 'name' ? h.name : key === 'creation_timestamp' ? h.createdAt : h.updatedAt,
    );
    const { page, nextPageToken } = paginate(heads, maxResults, input.pageToken);
    const models: RegisteredModelJson[] = [];
    for (const h of page) {
      const p = partitions.get(h.modelId) ?? (await this.loadPartition(h));
      models.push(modelJson(h, p.tags, p.versions, true));
    }
    return { registered_models: models, ...(nextPageToken && { next_page_token: nextPageToken }) };
  }

  /** The highest version in each requested stage (every stage when none is given). */
  async getLatestVersions(input: { name: string; stages?: readonly string[] }): Promise<ModelVersionJson[]> {
    const name = requireName(input.name);
    const wanted = input.stages && input.stages.length > 0 ? input.stages.map(canonicalStage) : [...STAGES];
    const head = await this.loadHead(name);
    const { versions } = await this.loadPartition(head);
    const latest = latestPerStage(head, versions);
    return [...new Set(wanted)].flatMap((s) => {
      const v = latest.get(s);
      return v ? [versionJson(head, v)] : [];
    });
  }

  /** Sets a tag on a registered model (last write wins). */
  async setRegisteredModelTag(input: { name: string; key: string; value?: string }): Promise<void> {
    const name = requireName(input.name);
    const tag = { key: input.key, value: input.value ?? '' };
    validateTag(tag);
    const head = await this.loadHead(name);
    await this.db.put({ ...keys.modelTag(head.modelId, tag.key), ...tag });
  }

  /** Deletes a tag of a registered model; a missing tag is a no-op, as MLflow. */
  async deleteRegisteredModelTag(input: { name: string; key: string }): Promise<void> {
    const head = await this.loadHead(requireName(input.name));
    validateKey('Tag key', input.key);
    await this.db.delete(keys.modelTag(head.modelId, input.key));
  }

  // ---------------------------------------------------------------- model versions

  /**
   * Registers a new version (status `READY`, stage `None`) numbered max + 1.
   *
   * With `idempotent` and a `runId`, registering the same `(name, runId, source)` again returns the
   * existing version instead of creating another: a pipeline step retried after a timeout does not
   * leave a duplicate. Without it (MLflow's behaviour) every call creates a version.
   */
  async createModelVersion(
    input: {
      name: string;
      source: string;
      runId?: string;
      runLink?: string;
      description?: string;
      tags?: readonly Tag[];
    },
    options: { idempotent?: boolean } = {},
  ): Promise<ModelVersionJson> {
    const name = requireName(input.name);
    const source = requireName(input.source, 'source');
    validateSource(source);
    const tags = dedupeTags(input.tags);
    for (const t of tags) validateTag(t);
    const head = await this.loadHead(name);
    const base: VersionBase = {
      source,
      runId: input.runId || undefined,
      runLink: input.runLink || undefined,
      description: input.description || undefined,
      tags: Object.fromEntries(tags.map((t) => [t.key, t.value])),
    };
    const item =
      options.idempotent && base.runId
        ? await this.createIdempotent(head, base, idempotencyHash(base.runId, source))
        : await this.allocateVersion(head, base);
    // The model's last-updated time only moves forward; no revision bump, nothing to lose.
    await this.db.updateIf({
      Key: keys.modelHead(head.modelId),
      UpdateExpression: 'SET updatedAt = :t',
      ConditionExpression: 'attribute_exists(pk) AND updatedAt < :t',
      ExpressionAttributeValues: { ':t': item.createdAt },
    });
    return versionJson({ ...head, name }, item);
  }

  /** Gets one version. */
  async getModelVersion(input: { name: string; version: string | number }): Promise<ModelVersionJson> {
    const { head, item } = await this.loadVersion(input.name, input.version);
    return versionJson(head, item);
  }

  /** Sets (or clears) a version's description. */
  async updateModelVersion(input: {
    name: string;
    version: string | number;
    description?: string;
  }): Promise<ModelVersionJson> {
    const { head, item } = await this.loadVersion(input.name, input.version);
    const description = input.description || undefined;
    const updated = await this.db.updateIf({
      Key: keys.version(head.modelId, item.version),
      UpdateExpression: description
        ? 'SET description = :d, updatedAt = :now'
        : 'REMOVE description SET updatedAt = :now',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':now': this.now(), ...(description && { ':d': description }) },
    });
    if (!updated) throw versionNotFound(head.name, item.version);
    return versionJson(head, updated as VersionItem);
  }

  /**
   * Moves a version to a stage; with `archiveExistingVersions`, every other version in that stage
   * becomes `Archived` in the same conditional write. Entering `Staging`/`Production` emits a
   * promotion event.
   */
  async transitionStage(input: {
    name: string;
    version: string | number;
    stage: string;
    archiveExistingVersions?: boolean;
  }): Promise<ModelVersionJson> {
    const stage = canonicalStage(input.stage);
    if (input.archiveExistingVersions && !ACTIVE_STAGES.includes(stage)) {
      // MLflow raises this without an error code, hence INTERNAL_ERROR (500), kept for compatibility.
      throw new MlflowError(
        'INTERNAL_ERROR',
        `Model version transition cannot archive existing model versions because '${stage}' is not an Active stage. ` +
          `Valid stages are ['Staging', 'Production']`,
      );
    }
    const result = await retryOnConflict(async () => {
      const { head, item } = await this.loadVersion(input.name, input.version);
      const v = item.version;
      const now = this.now();
      const before = stageOf(head, v);
      const entries: Record<string, StageEntry> = { [v]: { stage, at: now } };
      const holders = Object.entries(head.stages)
        .filter(([other, e]) => e.stage === stage && Number(other) !== v)
        .map(([other]) => Number(other));
      if (input.archiveExistingVersions) {
        for (const other of holders) entries[other] = { stage: 'Archived', at: now };
      }
      const event =
        ACTIVE_STAGES.includes(stage) && before !== stage
          ? await this.promotionEvent(
              head,
              item,
              now,
              { stage },
              holders.length ? Math.max(...holders) : undefined,
            )
          : undefined;
      const next = await this.writeHead(head, now, { stages: entries }, event);
      return next && { head: next, item, event };
    }, `registered model ${input.name}`);
    if (result.event) await this.publish(result.head, [result.event]);
    return versionJson(result.head, result.item);
  }

  /** Soft-deletes a version (its number is never reused) and removes aliases pointing at it. */
  async deleteModelVersion(input: { name: string; version: string | number }): Promise<void> {
    await retryOnConflict(async () => {
      const { head, item } = await this.loadVersion(input.name, input.version);
      const now = this.now();
      const dropAliases = Object.entries(head.aliases)
        .filter(([, v]) => v === item.version)
        .map(([alias]) => alias);
      return this.writeHead(head, now, {
        stages: { [item.version]: { stage: DELETED, at: now } },
        dropAliases,
      });
    }, `registered model ${input.name}`);
  }

  /** Searches versions by `name`, `run_id`, `source_path`, `version_number` and `tags.<k>`. */
  async searchModelVersions(input: {
    filter?: string;
    maxResults?: number;
    orderBy?: readonly string[];
    pageToken?: string;
  }): Promise<{ model_versions: ModelVersionJson[]; next_page_token?: string }> {
    const maxResults = checkMaxResults(input.maxResults, 200_000, 200_000);
    const clauses = parseFilter(input.filter);
    const attributes = ['name', 'run_id', 'source_path', 'version_number'];
    for (const c of clauses) {
      if (
        (c.entity === 'attribute' && !attributes.includes(c.key)) ||
        (c.entity !== 'attribute' && c.entity !== 'tag')
      ) {
        throw invalidParameter(
          `Invalid filter key '${c.key}'. Model versions can be searched by ${attributes.join(', ')} and tags.<key>.`,
        );
      }
    }
    const order = parseOrderBy(input.orderBy, (k) =>
      ['name', 'version_number', 'creation_timestamp', 'timestamp', 'last_updated_timestamp'].includes(k),
    );
    const candidates = await this.versionCandidates(clauses);
    const matches = candidates.filter(({ head, item }) =>
      clauses.every((c) => clauseMatches(c, versionAttribute(head, item, c))),
    );
    sortBy(
      matches,
      [...order, { key: 'name', ascending: true }, { key: 'version_number', ascending: false }],
      ({ head, item }, key) =>
        key === 'name'
          ? head.name
          : key === 'version_number'
            ? item.version
            : key === 'creation_timestamp'
              ? item.createdAt
              : lastUpdated(head, item),
    );
    const { page, nextPageToken } = paginate(matches, maxResults, input.pageToken);
    return {
      model_versions: page.map(({ head, item }) => versionJson(head, item)),
      ...(nextPageToken && { next_page_token: nextPageToken }),
    };
  }

  /** Where a version's artifacts can be downloaded: the source, with `runs:/` resolved. */
  async getDownloadUri(input: { name: string; version: string | number }): Promise<string> {
    const { item } = await this.loadVersion(input.name, input.version);
    return this.artifactUri(item);
  }

  /** Sets a tag on a version (last write wins). */
  async setModelVersionTag(input: {
    name: string;
    version: string | number;
    key: string;
    value?: string;
  }): Promise<void> {
    const tag = { key: input.key, value: input.value ?? '' };
    validateTag(tag);
    const { head, item } = await this.loadVersion(input.name, input.version);
    await this.db.updateIf({
      Key: keys.version(head.modelId, item.version),
      UpdateExpression: 'SET tags.#k = :v',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#k': tag.key },
      ExpressionAttributeValues: { ':v': tag.value },
    });
  }

  /** Deletes a version's tag; a missing tag is a no-op. */
  async deleteModelVersionTag(input: { name: string; version: string | number; key: string }): Promise<void> {
    validateKey('Tag key', input.key);
    const { head, item } = await this.loadVersion(input.name, input.version);
    await this.db.updateIf({
      Key: keys.version(head.modelId, item.version),
      UpdateExpression: 'REMOVE tags.#k',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#k': input.key },
    });
  }

  // ---------------------------------------------------------------- aliases

  /** Points an alias at a version; moving a promotion alias (`champion`) emits an event. */
  async setAlias(input: { name: string; alias: string; version: string | number }): Promise<void> {
    validateAlias(input.alias);
    const result = await retryOnConflict(async () => {
      const { head, item } = await this.loadVersion(input.name, input.version);
      const now = this.now();
      const previous = head.aliases[input.alias];
      const event =
        this.promotionAliases.includes(input.alias) && previous !== item.version
          ? await this.promotionEvent(head, item, now, { alias: input.alias }, previous)
          : undefined;
      const next = await this.writeHead(head, now, { setAliases: { [input.alias]: item.version } }, event);
      return next && { head: next, event };
    }, `registered model ${input.name}`);
    if (result.event) await this.publish(result.head, [result.event]);
  }

  /** Removes an alias; removing an absent alias is a no-op, as MLflow. */
  async deleteAlias(input: { name: string; alias: string }): Promise<void> {
    validateAlias(input.alias);
    await retryOnConflict(
      async () =>
        this.writeHead(await this.loadHead(requireName(input.name)), this.now(), {
          dropAliases: [input.alias],
        }),
      `registered model ${input.name}`,
    );
  }

  /** The version an alias points at; `INVALID_PARAMETER_VALUE` (400, as MLflow) if unset. */
  async getByAlias(input: { name: string; alias: string }): Promise<ModelVersionJson> {
    validateAlias(input.alias);
    const head = await this.loadHead(requireName(input.name));
    const version = head.aliases[input.alias];
    if (version === undefined) throw invalidParameter(`Registered model alias ${input.alias} not found.`);
    return this.getModelVersion({ name: head.name, version });
  }

  /**
   * Re-sends promotion events a failed publish left in the model's outbox. Writes to the model do
   * this on their own; call it from a schedule to bound the delay for models nobody touches.
   */
  async flushPendingEvents(name: string, olderThanMs = 0): Promise<number> {
    const head = await this.loadHead(requireName(name));
    const due = Object.values(head.outbox).filter((e) => this.now() - e.timestamp >= olderThanMs);
    if (due.length > 0) await this.publish(head, due, false);
    return due.length;
  }

  // ---------------------------------------------------------------- internals

  /** Claims `RMNAME#name` for `modelId`, taking over pointers left by crashed creates or deletes. */
  private async claimName(name: string, modelId: string, now: number): Promise<boolean> {
    const item = { ...keys.modelName(name), modelId, createdAt: now };
    if (await this.db.putIf({ Item: item, ConditionExpression: 'attribute_not_exists(pk)' })) return true;
    const pointer = await this.db.get(keys.modelName(name));
    if (!pointer) return this.claimName(name, modelId, now);
    const head = (await this.db.get(keys.modelHead(pointer.modelId as string))) as Head | undefined;
    const orphan = head
      ? head.deleted === true || head.name !== name
      : now - (pointer.createdAt as number) > ORPHAN_POINTER_MS;
    if (!orphan) return false;
    return this.db.putIf({
      Item: item,
      ConditionExpression: 'modelId = :old',
      ExpressionAttributeValues: { ':old': pointer.modelId },
    });
  }

  private async releaseName(name: string, modelId: string): Promise<void> {
    await this.db.delete(keys.modelName(name), { expression: 'modelId = :id', values: { ':id': modelId } });
  }

  /** The live head for a name, or undefined. */
  private async findHead(name: string): Promise<Head | undefined> {
    const pointer = await this.db.get(keys.modelName(name));
    if (!pointer) return undefined;
    const head = (await this.db.get(keys.modelHead(pointer.modelId as string))) as Head | undefined;
    return head && !head.deleted && head.name === name ? head : undefined;
  }

  private async loadHead(name: string): Promise<Head> {
    const head = await this.findHead(name);
    if (!head) throw modelNotFound(name);
    return head;
  }

  private async loadVersion(
    name: string,
    version: string | number,
  ): Promise<{ head: Head; item: VersionItem }> {
    requireName(name);
    if (version === undefined || version === '') requireName(undefined, 'version');
    const v = parseVersion(version);
    const head = await this.loadHead(name);
    const item = (await this.db.get(keys.version(head.modelId, v))) as VersionItem | undefined;
    if (!item || head.stages[v]?.stage === DELETED) throw versionNotFound(name, version);
    return { head, item };
  }

  private async loadPartition(head: Head): Promise<{ tags: Tag[]; versions: VersionItem[] }> {
    const items = await this.db.queryAll({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.modelHead(head.modelId).pk },
    });
    const tags: Tag[] = [];
    const versions: VersionItem[] = [];
    for (const i of items) {
      const sk = i.sk as string;
      if (sk.startsWith('T#')) tags.push({ key: i.key as string, value: i.value as string });
      else if (sk.startsWith('V#') && head.stages[i.version as number]?.stage !== DELETED) {
        versions.push(i as VersionItem);
      }
    }
    return { tags, versions };
  }

  /**
   * Conditional put of `max + 1`. A writer that loses number N knows N is taken, so it tries N + 1
   * straight away (no re-read), with a little jitter to break lockstep; it never skips a number it has
   * not seen taken, so there are no gaps. Every few losses it re-reads the maximum to catch up.
   */
  private allocateVersion(head: Head, base: VersionBase, idem?: string): Promise<VersionItem> {
    let next: number | undefined;
    let losses = 0;
    return retryOnConflict(
      async () => {
        if (next === undefined || losses % 8 === 0) {
          const last = await this.db.queryPage({
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :v)',
            ExpressionAttributeValues: { ':pk': keys.modelHead(head.modelId).pk, ':v': 'V#' },
            ScanIndexForward: false,
            Limit: 1,
            ProjectionExpression: 'version',
          });
          next = Math.max(next ?? 0, ((last.items[0]?.version as number | undefined) ?? 0) + 1);
        }
        const version = next;
        const now = this.now();
        const item: VersionItem = {
          ...keys.version(head.modelId, version),
          ...base,
          version,
          createdAt: now,
          updatedAt: now,
          idem,
          ...(base.runId && {
            gsi1pk: `MVRUN#${base.runId}`,
            gsi1sk: `${head.modelId}#${padVersion(version)}`,
          }),
        };
        if (await this.db.putIf({ Item: item, ConditionExpression: 'attribute_not_exists(pk)' })) return item;
        next = version + 1;
        losses++;
        await sleep(Math.random() * 5);
        return undefined;
      },
      `registered model ${head.name}`,
      { maxAttempts: 500, backoff: false },
    );
  }

  /**
   * Idempotent registration: claim `IDEM#hash`, look for a version an earlier (possibly crashed)
   * attempt created, allocate only if there is none, then record the version on the claim.
   */
  private async createIdempotent(head: Head, base: VersionBase, hash: string): Promise<VersionItem> {
    const key = keys.idempotency(head.modelId, hash);
    const findExisting = async () => {
      const found = (await this.db.queryAll({
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :v)',
        FilterExpression: 'idem = :h',
        ExpressionAttributeValues: { ':pk': key.pk, ':v': 'V#', ':h': hash },
      })) as VersionItem[];
      return found.find((i) => head.stages[i.version]?.stage !== DELETED);
    };
    const owner = randomUUID();
    for (let attempt = 0; attempt < 50; attempt++) {
      const now = this.now();
      const claimed = await this.db.putIf({
        Item: { ...key, owner, claimedAt: now, ttl: Math.ceil((now + 86_400_000) / 1000) },
        ConditionExpression:
          'attribute_not_exists(pk) OR (attribute_not_exists(version) AND claimedAt < :stale)',
        ExpressionAttributeValues: { ':stale': now - CLAIM_LEASE_MS },
      });
      if (claimed) {
        const item = (await findExisting()) ?? (await this.allocateVersion(head, base, hash));
        await this.db.updateIf({
          Key: key,
          UpdateExpression: 'SET version = :v REMOVE #ttl',
          ConditionExpression: '#owner = :me',
          ExpressionAttributeNames: { '#ttl': 'ttl', '#owner': 'owner' },
          ExpressionAttributeValues: { ':v': item.version, ':me': owner },
        });
        return item;
      }
      const existing = await findExisting();
      if (existing) return existing;
      const claim = await this.db.get(key);
      if (claim?.version !== undefined) {
        // The version this claim recorded was deleted since: the next registration may take the claim.
        await this.db.delete(key, { expression: 'version = :v', values: { ':v': claim.version } });
        continue;
      }
      // Another attempt holds the claim and is registering right now: wait for it.
      await sleep(50 + Math.random() * 100);
    }
    throw new MlflowError(
      'RESOURCE_CONFLICT',
      `A registration of run ${base.runId} (source ${base.source}) into ${head.name} is in progress; try again.`,
    );
  }

  /**
   * One conditional UpdateItem on the head: stage entries, alias changes and an outbox event, guarded
   * by `rev`. Resolves the new head, or undefined when another writer got there first.
   */
  private async writeHead(
    head: Head,
    now: number,
    change: {
      stages?: Record<string, StageEntry>;
      setAliases?: Record<string, number>;
      dropAliases?: string[];
    },
    event?: ModelVersionPromoted,
  ): Promise<Head | undefined> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':rev': head.rev, ':one': 1, ':now': now };
    const sets = ['updatedAt = :now', 'rev = rev + :one'];
    const removes: string[] = [];
    let n = 0;
    for (const [version, entry] of Object.entries(change.stages ?? {})) {
      names[`#s${n}`] = version;
      values[`:s${n}`] = entry;
      sets.push(`stages.#s${n} = :s${n}`);
      n++;
    }
    for (const [alias, version] of Object.entries(change.setAliases ?? {})) {
      names[`#a${n}`] = alias;
      values[`:a${n}`] = version;
      sets.push(`aliases.#a${n} = :a${n}`);
      n++;
    }
    for (const alias of change.dropAliases ?? []) {
      names[`#a${n}`] = alias;
      removes.push(`aliases.#a${n}`);
      n++;
    }
    if (event) {
      names['#e'] = event.eventId;
      values[':e'] = event;
      sets.push('outbox.#e = :e');
    }
    const updated = await this.db.updateIf({
      Key: keys.modelHead(head.modelId),
      UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
      ConditionExpression: 'rev = :rev AND attribute_not_exists(deleted)',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
    return updated as Head | undefined;
  }

  private async promotionEvent(
    head: Head,
    item: VersionItem,
    now: number,
    target: { stage?: string; alias?: string },
    previous: number | undefined,
  ): Promise<ModelVersionPromoted> {
    return {
      eventId: randomUUID(),
      modelName: head.name,
      version: String(item.version),
      source: item.source,
      artifactUri: await this.artifactUri(item),
      ...target,
      previousVersion: previous === undefined ? null : String(previous),
      timestamp: now,
    };
  }

  /**
   * Publishes `events` (already in the head's outbox) plus any older pending ones, then clears what
   * was accepted. A failure is logged and left for the next attempt: the promotion itself stands.
   */
  private async publish(head: Head, events: ModelVersionPromoted[], includeStale = true): Promise<void> {
    const ids = new Set(events.map((e) => e.eventId));
    const stale = includeStale
      ? Object.values(head.outbox).filter(
          (e) => !ids.has(e.eventId) && this.now() - e.timestamp > OUTBOX_RETRY_AFTER_MS,
        )
      : [];
    const batch = [...events, ...stale];
    try {
      await this.events.publish(batch);
    } catch (error) {
      this.logger?.error('Publishing promotion events failed; they stay in the outbox and will be re-sent', {
        model: head.name,
        eventIds: batch.map((e) => e.eventId),
        error: String(error),
      });
      return;
    }
    const names = Object.fromEntries(batch.map((e, i) => [`#e${i}`, e.eventId]));
    await this.db.updateIf({
      Key: keys.modelHead(head.modelId),
      UpdateExpression: `REMOVE ${batch.map((_, i) => `outbox.#e${i}`).join(', ')}`,
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: names,
    });
  }

  private async artifactUri(item: VersionItem): Promise<string> {
    const m = /^runs:\/([^/]+)\/?(.*)$/.exec(item.source);
    if (m && this.resolveRunsUri) return (await this.resolveRunsUri(m[1]!, m[2]!)) ?? item.source;
    return item.source;
  }

  /** The versions a search must look at, narrowed by an exact `name` or `run_id` clause. */
  private async versionCandidates(clauses: FilterClause[]): Promise<{ head: Head; item: VersionItem }[]> {
    const byName = clauses.find((c) => c.entity === 'attribute' && c.key === 'name' && c.op === '=');
    const byRun = clauses.find((c) => c.entity === 'attribute' && c.key === 'run_id' && c.op === '=');
    let heads: Head[];
    if (byName) {
      const head = await this.findHead(String(byName.value));
      heads = head ? [head] : [];
    } else if (byRun) {
      const hits = await this.db.queryAll({
        IndexName: GSI1,
        KeyConditionExpression: 'gsi1pk = :run',
        ExpressionAttributeValues: { ':run': `MVRUN#${byRun.value}` },
        ProjectionExpression: 'pk',
      });
      const ids = [...new Set(hits.map((h) => (h.pk as string).slice(3)))];
      heads = ((await this.db.batchGet(ids.map((id) => keys.modelHead(id)))) as Head[]).filter(
        (h) => !h.deleted,
      );
    } else {
      heads = (await this.db.queryAll({
        IndexName: GSI1,
        KeyConditionExpression: 'gsi1pk = :rm',
        ExpressionAttributeValues: { ':rm': 'RM' },
      })) as Head[];
      heads = heads.filter((h) => !h.deleted);
    }
    const out: { head: Head; item: VersionItem }[] = [];
    for (const head of heads) {
      for (const item of (await this.loadPartition(head)).versions) out.push({ head, item });
    }
    return out;
  }
}

// ---------------------------------------------------------------- pure helpers

const idempotencyHash = (runId: string, source: string): string =>
  createHash('sha256').update(`${runId}\n${source}`).digest('hex');

function dedupeTags(tags: readonly Tag[] | undefined): Tag[] {
  // Last one wins, as repeated set-tag calls would.
  return [...new Map((tags ?? []).map((t) => [t.key, { key: t.key, value: t.value ?? '' }])).values()];
}

function validateTag(tag: Tag): void {
  validateKey('Tag key', tag.key ?? '');
  validateTagValue(tag.key, tag.value);
}

function stageOf(head: Head, version: number): Stage {
  const entry = head.stages[version];
  return entry && entry.stage !== DELETED ? entry.stage : 'None';
}

function lastUpdated(head: Head, item: VersionItem): number {
  return Math.max(item.updatedAt, head.stages[item.version]?.at ?? 0);
}

function versionAttribute(head: Head, item: VersionItem, c: FilterClause): string | number | undefined {
  if (c.entity === 'tag') return item.tags[c.key];
  switch (c.key) {
    case 'name':
      return head.name;
    case 'run_id':
      return item.runId ?? '';
    case 'source_path':
      return item.source;
    default:
      return typeof c.value === 'string' ? String(item.version) : item.version;
  }
}

function latestPerStage(head: Head, versions: VersionItem[]): Map<Stage, VersionItem> {
  const latest = new Map<Stage, VersionItem>();
  for (const v of versions) {
    const s = stageOf(head, v.version);
    if ((latest.get(s)?.version ?? 0) < v.version) latest.set(s, v);
  }
  return latest;
}

function versionJson(head: Head, item: VersionItem): ModelVersionJson {
  // DynamoDB maps have no order; sort so responses are stable.
  const tags = Object.entries(item.tags ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, value]) => ({ key, value }));
  const aliases = Object.entries(head.aliases)
    .filter(([, v]) => v === item.version)
    .map(([a]) => a)
    .sort();
  return {
    name: head.name,
    version: String(item.version),
    creation_timestamp: item.createdAt,
    last_updated_timestamp: lastUpdated(head, item),
    current_stage: stageOf(head, item.version),
    ...(item.description && { description: item.description }),
    source: item.source,
    ...(item.runId && { run_id: item.runId }),
    status: 'READY',
    ...(item.runLink && { run_link: item.runLink }),
    ...(tags.length && { tags }),
    ...(aliases.length && { aliases }),
  };
}

function modelJson(
  head: Head,
  tags: Tag[],
  versions: VersionItem[],
  withLatest: boolean,
): RegisteredModelJson {
  const latest = withLatest
    ? STAGES.flatMap((s) => {
        const v = latestPerStage(head, versions).get(s);
        return v ? [versionJson(head, v)] : [];
      })
    : [];
  const aliases = Object.entries(head.aliases)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([alias, version]) => ({ alias, version: String(version) }));
  const sortedTags = [...tags].sort((a, b) => (a.key < b.key ? -1 : 1));
  return {
    name: head.name,
    creation_timestamp: head.createdAt,
    last_updated_timestamp: head.updatedAt,
    ...(head.description && { description: head.description }),
    ...(latest.length && { latest_versions: latest }),
    ...(sortedTags.length && { tags: sortedTags }),
    ...(aliases.length && { aliases }),
  };
}
