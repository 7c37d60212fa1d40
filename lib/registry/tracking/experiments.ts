/** Experiments: create, read, search, rename, delete and restore (with their runs), tag. */
import { alreadyExists, invalidParameter, MlflowError, notFound } from '../errors';
import { claimName, nameOwner, releaseName } from '../names';
import { checkMaxResults, clauseMatches, type OrderKey, paginate, parseFilter, parseOrderBy, sortBy } from '../search';
import { absent, allOf, equals, exists, increment, set, setEntry } from '../store';
import { requireName, validateKey, validateTagValue } from '../validation';
import {
  DEFAULT_EXPERIMENT_ID,
  type ExperimentItem,
  type ExperimentJson,
  experimentJson,
  experimentRef,
  invalidState,
  isActive,
  loadExperiment,
  mapLimit,
  type Tag,
  type TrackingContext,
  type ViewType,
  viewMatches,
} from './records';

/** Creates an experiment and returns its id; `RESOURCE_ALREADY_EXISTS` if the name is taken. */
export async function createExperiment(
  ctx: TrackingContext,
  input: {
    name: string;
    artifactLocation?: string;
    tags?: readonly Tag[];
  },
): Promise<string> {
  await ctx.ensureDefault();
  const name = requireName(input.name);
  if (input.artifactLocation && /[#;]/.test(input.artifactLocation)) {
    throw invalidParameter("'artifact_location' URL can't include fragments or params.");
  }
  const tags = input.tags ?? [];
  for (const t of tags) {
    validateKey('Tag key', t.key ?? '');
    validateTagValue(t.key, t.value ?? '');
  }
  const counter = await ctx.store.update({ kind: 'experimentSequence' }, [increment('n')]);
  const experimentId = String(counter!.n);
  const now = ctx.now();
  if (!(await claimName(ctx.store, ctx.names, name, experimentId, now))) {
    throw alreadyExists(`Experiment(name=${name}) already exists.`);
  }
  const item: ExperimentItem = {
    experimentId,
    name,
    artifactLocation: input.artifactLocation || `${ctx.root}/${experimentId}`,
    lifecycleStage: 'active',
    createdAt: now,
    updatedAt: now,
    tags: Object.fromEntries(tags.map((t) => [t.key, t.value ?? ''])),
  };
  await ctx.store.put(experimentRef(experimentId), item);
  return experimentId;
}

/** Gets an experiment by id. */
export async function getExperiment(ctx: TrackingContext, experimentId: string): Promise<ExperimentJson> {
  await ctx.ensureDefault();
  return experimentJson(await loadExperiment(ctx, requireName(experimentId, 'experiment_id')));
}

/** Gets an experiment by name (`RESOURCE_DOES_NOT_EXIST` with MLflow's message if absent). */
export async function getExperimentByName(ctx: TrackingContext, name: string): Promise<ExperimentJson> {
  await ctx.ensureDefault();
  requireName(name, 'experiment_name');
  const owner = await nameOwner(ctx.store, ctx.names, name);
  const item = owner && ((await ctx.store.get(experimentRef(owner))) as ExperimentItem | undefined);
  if (!item || item.name !== name) throw notFound(`Could not find experiment with name '${name}'`);
  return experimentJson(item);
}

/** Searches experiments by `name` and `tags.<k>`. */
export async function searchExperiments(
  ctx: TrackingContext,
  input: {
    filter?: string;
    maxResults?: number;
    orderBy?: readonly string[];
    pageToken?: string;
    viewType?: ViewType;
  },
): Promise<{ experiments: ExperimentJson[]; next_page_token?: string }> {
  await ctx.ensureDefault();
  const maxResults = checkMaxResults(input.maxResults, 1000, 50_000);
  const clauses = parseFilter(input.filter);
  for (const c of clauses) {
    if (
      !(
        c.entity === 'tag' ||
        (c.entity === 'attribute' && ['name', 'creation_time', 'last_update_time'].includes(c.key))
      )
    ) {
      throw invalidParameter(
        `Invalid attribute key '${c.key}' specified. Valid keys are name, creation_time, last_update_time and tags.<key>.`,
      );
    }
  }
  const order = parseOrderBy(input.orderBy, (k) =>
    ['name', 'experiment_id', 'creation_time', 'last_update_time'].includes(k),
  );
  const items = (await ctx.store.list({ of: 'experiments' })).entries.map((e) => e.record as ExperimentItem);
  const matches = items.filter(
    (e) =>
      viewMatches(input.viewType, e.lifecycleStage) &&
      clauses.every((c) =>
        clauseMatches(
          c,
          c.entity === 'tag'
            ? e.tags[c.key]
            : c.key === 'name'
              ? e.name
              : c.key === 'creation_time'
                ? e.createdAt
                : e.updatedAt,
        ),
      ),
  );
  const defaults: OrderKey[] = order.length ? [] : [{ key: 'creation_time', ascending: false }];
  sortBy(matches, [...order, ...defaults, { key: 'experiment_id', ascending: true }], (e, key) =>
    key === 'name'
      ? e.name
      : key === 'experiment_id'
        ? Number(e.experimentId)
        : key === 'creation_time'
          ? e.createdAt
          : e.updatedAt,
  );
  const { page, nextPageToken } = paginate(matches, maxResults, input.pageToken);
  return {
    experiments: page.map(experimentJson),
    ...(nextPageToken && { next_page_token: nextPageToken }),
  };
}

/**
 * Renames an active experiment (`experiments/update`). The new name is claimed first, so two
 * renames to one name cannot both win; the old name is released only once the rename holds.
 */
export async function renameExperiment(ctx: TrackingContext, input: { experimentId: string; newName?: string }): Promise<void> {
  await ctx.ensureDefault();
  const experiment = await loadExperiment(ctx, requireName(input.experimentId, 'experiment_id'));
  if (input.newName === undefined || input.newName === '') return; // MLflow: nothing to update
  const newName = requireName(input.newName, 'new_name');
  if (experiment.lifecycleStage !== 'active') {
    throw invalidState('Cannot rename a non-active experiment.');
  }
  if (newName === experiment.name) return;
  const now = ctx.now();
  if (!(await claimName(ctx.store, ctx.names, newName, experiment.experimentId, now))) {
    throw alreadyExists(`Experiment(name=${newName}) already exists.`);
  }
  const renamed = await ctx.store.update(
    experimentRef(experiment.experimentId),
    [set('name', newName), set('updatedAt', now)],
    allOf(equals('name', experiment.name), isActive),
  );
  if (!renamed) {
    // Renamed or deleted by someone else meanwhile: give the claimed name back.
    await releaseName(ctx.store, ctx.names, newName, experiment.experimentId);
    throw new MlflowError(
      'RESOURCE_CONFLICT',
      `Experiment ${experiment.experimentId} was renamed or deleted while this rename ran; read it again and retry.`,
    );
  }
  await releaseName(ctx.store, ctx.names, experiment.name, experiment.experimentId);
}

/**
 * Marks an experiment and its runs deleted (`experiments/delete`); the name stays taken until it
 * is restored, as in MLflow. The default experiment cannot be deleted.
 */
export async function deleteExperiment(ctx: TrackingContext, experimentId: string): Promise<void> {
  await setExperimentStage(ctx, experimentId, 'deleted');
}

/** Restores a deleted experiment and its runs (`experiments/restore`). */
export async function restoreExperiment(ctx: TrackingContext, experimentId: string): Promise<void> {
  await setExperimentStage(ctx, experimentId, 'active');
}

/** Sets one tag of an active experiment (`experiments/set-experiment-tag`); last write wins. */
export async function setExperimentTag(ctx: TrackingContext, input: { experimentId: string; key: string; value?: string }): Promise<void> {
  await ctx.ensureDefault();
  const experimentId = requireName(input.experimentId, 'experiment_id');
  validateKey('Tag key', input.key ?? '');
  const value = input.value ?? '';
  validateTagValue(input.key, value);
  const experiment = await loadExperiment(ctx, experimentId);
  const updated = await ctx.store.update(
    experimentRef(experimentId),
    [setEntry('tags', input.key, value), set('updatedAt', ctx.now())],
    isActive,
  );
  if (!updated) {
    throw invalidParameter(
      `The experiment ${experiment.experimentId} must be in the 'active' state. Current state is deleted.`,
    );
  }
}

/**
 * Moves an experiment between active and deleted (one conditional write, so a racing delete and
 * restore each either apply or fail cleanly), then its runs, each with its own conditional write.
 */
export async function setExperimentStage(ctx: TrackingContext, experimentId: string, to: 'active' | 'deleted'): Promise<void> {
  await ctx.ensureDefault();
  const id = requireName(experimentId, 'experiment_id');
  if (to === 'deleted' && id === DEFAULT_EXPERIMENT_ID) {
    throw invalidParameter(
      "Cannot delete the default experiment '0'. This is an internally reserved experiment.",
    );
  }
  const from = to === 'deleted' ? 'active' : 'deleted';
  await loadExperiment(ctx, id);
  const moved = await ctx.store.update(
    experimentRef(id),
    [set('lifecycleStage', to), set('updatedAt', ctx.now())],
    equals('lifecycleStage', from),
  );
  // As MLflow's SQL store: deleting an experiment that is not active (or restoring one that is
  // not deleted) is "no such experiment" in the view it looks in.
  if (!moved) throw notFound(`No Experiment with id=${id} exists`);
  const { entries: runs } = await ctx.store.list({ of: 'runsOfExperiment', experimentId: id });
  await mapLimit(runs, 16, (r) =>
    ctx.store.update(r.ref, [set('lifecycleStage', to), increment('rev')], exists),
  );
}

/** Creates experiment `0` (`Default`); conditional, so racing cold starts agree. */
export async function createDefaultExperiment(ctx: Pick<TrackingContext, 'store' | 'names' | 'root' | 'now'>): Promise<void> {
  const now = ctx.now();
  await ctx.store.put(ctx.names.ref('Default'), { experimentId: DEFAULT_EXPERIMENT_ID, createdAt: now }, absent);
  await ctx.store.put(
    experimentRef(DEFAULT_EXPERIMENT_ID),
    {
      experimentId: DEFAULT_EXPERIMENT_ID,
      name: 'Default',
      artifactLocation: `${ctx.root}/${DEFAULT_EXPERIMENT_ID}`,
      lifecycleStage: 'active',
      createdAt: now,
      updatedAt: now,
      tags: {},
    } satisfies ExperimentItem,
    absent,
  );
}
