/**
 * Model releases between environments: the steps of the `release` state machine, as plain
 * functions over ports (the source and target registries' MLflow REST API, the objects of both
 * artifact zones). A release copies one registered version of a source environment (staging, or a
 * second local platform) into this one:
 *
 * 1. {@link readSourceVersion}: the source version, its run (metrics, params, data version), its
 *    stage and aliases, its artifact digest and baseline; and whether this environment already
 *    holds a release of it (one target version per source version);
 * 2. {@link copyArtifacts}: the artifact streamed into the target's artifacts zone under
 *    `releases/`, hashed on the way, first to a key of this execution's own; only a copy whose
 *    SHA-256 equals the source's `mlops.artifact_sha256` is moved to its final key;
 * 3. {@link registerRelease}: a run with the source run's metrics and params and a version with the
 *    lineage tags (`mlops.source_environment`, `_version`, `_run_id`, `mlops.source_uri`, the copy's
 *    `mlops.artifact_sha256` and `_version_id`, the baseline's copy, and the training data's
 *    `mlops.data_version`, `mlops.data_version_uri` and `mlops.data_version_sha256`), idempotent per
 *    execution (a retried step finds what it created);
 * 4. approval (outside this module: a task token), then {@link promoteRelease} (Production: the
 *    registry's promotion event deploys it) or {@link rejectRelease} (Archived);
 * 5. on any failure, {@link cleanUpRelease}: the copies and whatever step 3 created are removed.
 *
 * @example
 * const plan = await readSourceVersion(source, target, { model: 'wine-quality', version: '1', source_environment: 'staging' });
 */
import { createHash } from 'node:crypto';
import { RegistryError, RegistryUnavailableError } from '../pipelines/errors';
import { isAlreadyExists, isNotFound, type MlflowClient } from '../pipelines/mlflow-client';
import { EXECUTION_TAG, experimentIdFor, rollbackRegistration } from '../pipelines/register';
import { VERSION_TAGS } from '../shared/operations';
import { parseS3Uri, type S3Uri } from '../shared/s3-uri';

/** Tags of a released version beyond the shared lineage ones in `VERSION_TAGS` (the kit's own). */
export const RELEASE_TAGS = {
  /** The artifact URI the version had in its source environment. */
  sourceUri: 'mlops.source_uri',
  /** `approved` or `rejected: <reason>`, written when the approval step ends. */
  decision: 'mlops.release_decision',
} as const;

/** Where released artifacts live in the target's artifacts zone. */
export const RELEASES_PREFIX = 'releases/';

/** A release that cannot go on: a bad request, a missing source, a tampered artifact. */
export class ReleaseError extends Error {
  override readonly name: string;
  constructor(
    name: 'SourceNotFound' | 'SourceUnreachable' | 'ArtifactDigestMismatch' | 'ReleaseInputError' | 'AlreadyReleased',
    message: string,
  ) {
    super(message);
    this.name = name;
  }
}

export interface ReadRequest {
  readonly model: string;
  readonly version: string;
  /** The source environment's name as lineage records it (`staging`, or the source platform's URL). */
  readonly source_environment: string;
}

/** What {@link readSourceVersion} found: the plan of the release, or the release that exists. */
export interface ReleasePlan {
  readonly model: string;
  readonly source_environment: string;
  readonly source_version: string;
  readonly source_uri: string;
  readonly source_run_id: string;
  readonly source_stage: string;
  readonly source_aliases: readonly string[];
  readonly sha256: string;
  readonly baseline_uri: string | null;
  /** The source run's `mlops.data_version` (the data version reference, JSON). */
  readonly data_version: string | null;
  /**
   * The source version's `mlops.data_version_uri` and `mlops.data_version_sha256` (the training
   * run's `data-version.json` and its digest), or from the run's `mlops.data_version` when the
   * version lacks them. The object stays in the source's artifacts zone: the release records where.
   */
  readonly data_version_uri: string | null;
  readonly data_version_sha256: string | null;
  readonly metrics: Readonly<Record<string, number>>;
  readonly params: Readonly<Record<string, string>>;
  /** Where the copies go in the target's artifacts zone. */
  readonly target_prefix: string;
  /** Set when this environment already holds a release of the source version. */
  readonly already_released: { readonly version: string; readonly stage: string } | null;
  /** One sentence for the execution's output and the CLI. */
  readonly summary: string;
}

interface Tag {
  key: string;
  value: string;
}
interface VersionJson {
  name: string;
  version: string;
  source?: string;
  run_id?: string;
  current_stage?: string;
  aliases?: string[];
  tags?: Tag[];
}
interface RunJson {
  info: { run_id: string; status?: string };
  data?: { metrics?: { key: string; value: number }[]; params?: Tag[]; tags?: Tag[] };
}

const tagOf = (tags: readonly Tag[] | undefined, key: string) => tags?.find((t) => t.key === key)?.value;
const quote = (s: string) => `'${s.replace(/'/g, "\\'")}'`;

/** Calls the source registry; an unreachable one is a {@link ReleaseError} that says which. */
async function fromSource<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof RegistryUnavailableError) {
      throw new ReleaseError('SourceUnreachable', `The source registry could not be reached to read ${what}: ${err.message}`);
    }
    throw err;
  }
}

/**
 * Step 1: reads the source version and checks this environment for an existing release of it.
 * Fails with `SourceNotFound` for an unknown model or version, `ReleaseInputError` for a version
 * registered without a digest (before digests were recorded, or by hand).
 */
export async function readSourceVersion(
  source: MlflowClient,
  target: MlflowClient,
  request: ReadRequest,
): Promise<ReleasePlan> {
  const { model, version } = request;
  if (!/^[1-9]\d*$/.test(version)) {
    throw new ReleaseError('ReleaseInputError', `version must be a version number such as 1, but ${JSON.stringify(version)} was provided`);
  }
  try {
    await fromSource(`model ${model}`, () => source.get('registered-models/get', { name: model }));
  } catch (err) {
    if (isNotFound(err)) {
      throw new ReleaseError('SourceNotFound', `The source registry (${request.source_environment}) has no model named ${model}`);
    }
    throw err;
  }
  let v: VersionJson;
  try {
    v = (
      await fromSource(`version ${version} of ${model}`, () =>
        source.get<{ model_version: VersionJson }>('model-versions/get', { name: model, version }),
      )
    ).model_version;
  } catch (err) {
    if (isNotFound(err)) {
      throw new ReleaseError('SourceNotFound', `The source registry (${request.source_environment}) has no version ${version} of model ${model}`);
    }
    throw err;
  }
  const sha256 = tagOf(v.tags, VERSION_TAGS.artifactSha256);
  if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256)) {
    throw new ReleaseError(
      'ReleaseInputError',
      `Version ${version} of ${model} must carry its artifact digest (tag ${VERSION_TAGS.artifactSha256}, recorded at registration) to be released, but ${sha256 ? JSON.stringify(sha256) : 'it has none'}: register it again with the training pipeline`,
    );
  }
  if (!v.source || !parseS3Uri(v.source)?.key) {
    throw new ReleaseError('ReleaseInputError', `Version ${version} of ${model} must have an s3:// source to be released, but ${JSON.stringify(v.source)} was provided`);
  }
  let run: RunJson | undefined;
  if (v.run_id) {
    run = (await fromSource(`run ${v.run_id}`, () => source.get<{ run: RunJson }>('runs/get', { run_id: v.run_id! }))).run;
  }
  const metrics = Object.fromEntries((run?.data?.metrics ?? []).map((m) => [m.key, m.value]));
  const params = Object.fromEntries((run?.data?.params ?? []).map((p) => [p.key, p.value]));
  const dataVersion = tagOf(v.tags, VERSION_TAGS.dataVersion) ?? tagOf(run?.data?.tags, VERSION_TAGS.dataVersion) ?? null;
  const reference = dataVersionReference(dataVersion);
  const existing = await findRelease(target, model, request.source_environment, version);
  const base = {
    model,
    source_environment: request.source_environment,
    source_version: version,
    source_uri: v.source,
    source_run_id: v.run_id ?? '',
    source_stage: v.current_stage ?? 'None',
    source_aliases: v.aliases ?? [],
    sha256,
    baseline_uri: tagOf(v.tags, VERSION_TAGS.baselineUri) ?? null,
    data_version: dataVersion,
    data_version_uri: tagOf(v.tags, VERSION_TAGS.dataVersionUri) ?? reference.uri,
    data_version_sha256: tagOf(v.tags, VERSION_TAGS.dataVersionSha256) ?? reference.sha256,
    metrics,
    params,
    target_prefix: `${RELEASES_PREFIX}${safeSegment(model)}/${safeSegment(request.source_environment)}/v${version}/`,
  };
  return existing
    ? {
        ...base,
        already_released: { version: existing.version, stage: existing.current_stage ?? 'None' },
        summary: `Version ${version} of ${model} from ${request.source_environment} is already released here as version ${existing.version} (stage ${existing.current_stage ?? 'None'}): nothing to do`,
      }
    : {
        ...base,
        already_released: null,
        summary: `Releasing version ${version} of ${model} from ${request.source_environment} (stage ${base.source_stage}, sha256 ${sha256.slice(0, 12)}…)`,
      };
}

/** `{ uri, sha256 }` of a run's `mlops.data_version` reference; nulls for anything else (older runs listed objects inline). */
function dataVersionReference(json: string | null): { uri: string | null; sha256: string | null } {
  let ref: unknown;
  try {
    ref = json === null ? null : JSON.parse(json);
  } catch {
    ref = null;
  }
  const field = (k: string) => {
    const value = (ref as Record<string, unknown> | null)?.[k];
    return typeof value === 'string' ? value : null;
  };
  return { uri: field('uri'), sha256: field('sha256') };
}

/** The target version released from `environment`'s `version`, if any (deleted ones are not listed). */
export async function findRelease(
  target: MlflowClient,
  model: string,
  environment: string,
  version: string,
): Promise<VersionJson | undefined> {
  const { model_versions = [] } = await target.get<{ model_versions?: VersionJson[] }>('model-versions/search', {
    filter: `name = ${quote(model)} and tags.\`${VERSION_TAGS.sourceVersion}\` = ${quote(version)}`,
  });
  return model_versions.find((m) => tagOf(m.tags, VERSION_TAGS.sourceEnvironment) === environment);
}

/** A path segment from a model or environment name (a URL as environment keeps its host and port). */
const safeSegment = (s: string) => s.replace(/^https?:\/\//, '').replace(/[^A-Za-z0-9._-]+/g, '-');

/** The objects a release reads and writes. */
export interface ReleaseObjects {
  /** The target's artifacts bucket. */
  readonly targetBucket: string;
  /** Streams a source object. */
  readSource(uri: S3Uri): Promise<{ body: AsyncIterable<Uint8Array>; length?: number }>;
  /** Writes a target object from a stream of `length` bytes. */
  writeTarget(key: string, body: AsyncIterable<Uint8Array>, length?: number): Promise<void>;
  /** A copy within the target; the new object's version when the bucket keeps versions. */
  copyTarget(fromKey: string, toKey: string): Promise<{ versionId?: string } | void>;
  deleteTarget(keys: readonly string[]): Promise<void>;
  listTarget(prefix: string): Promise<string[]>;
}

export interface CopiedArtifacts {
  readonly artifact_uri: string;
  readonly baseline_uri: string | null;
  readonly sha256: string;
  readonly bytes: number;
  /** The S3 version of the released artifact, recorded as `mlops.artifact_version_id`. */
  readonly artifact_version_id?: string;
}

/**
 * Step 2: copies the artifact (and baseline) into `<target_prefix>`, verifying the artifact's
 * SHA-256 while it streams. Copies land under `<target_prefix>incoming/<execution>/` first; only
 * verified ones are moved, so a failed or tampered copy never sits at a key a version could name.
 */
export async function copyArtifacts(
  objects: ReleaseObjects,
  plan: Pick<ReleasePlan, 'model' | 'source_version' | 'source_uri' | 'sha256' | 'baseline_uri' | 'target_prefix'>,
  execution: string,
): Promise<CopiedArtifacts> {
  const incoming = incomingPrefix(plan.target_prefix, execution);
  const moves: [string, string][] = [];
  try {
    const artifact = parseS3Uri(plan.source_uri)!;
    const name = artifact.key.split('/').at(-1) || 'model.tar.gz';
    const { sha256, bytes } = await streamCopy(objects, artifact, `${incoming}${name}`, plan.source_uri);
    if (sha256 !== plan.sha256) {
      throw new ReleaseError(
        'ArtifactDigestMismatch',
        `The artifact ${plan.source_uri} has SHA-256 ${sha256}, but the source registry recorded ${plan.sha256} (${VERSION_TAGS.artifactSha256}) for version ${plan.source_version} of ${plan.model}: it changed after registration, so it is not released`,
      );
    }
    moves.push([`${incoming}${name}`, `${plan.target_prefix}${name}`]);
    let baseline: string | null = null;
    if (plan.baseline_uri) {
      const b = parseS3Uri(plan.baseline_uri);
      if (!b?.key) throw new ReleaseError('ReleaseInputError', `The baseline URI must be s3://bucket/key, but ${plan.baseline_uri} was provided`);
      const bname = b.key.split('/').at(-1)!;
      await streamCopy(objects, b, `${incoming}${bname}`, plan.baseline_uri);
      moves.push([`${incoming}${bname}`, `${plan.target_prefix}${bname}`]);
      baseline = `s3://${objects.targetBucket}/${plan.target_prefix}${bname}`;
    }
    let versionId: string | undefined;
    for (const [i, [from, to]] of moves.entries()) {
      const copied = await objects.copyTarget(from, to);
      if (i === 0) versionId = copied?.versionId;
    }
    return {
      artifact_uri: `s3://${objects.targetBucket}/${plan.target_prefix}${name}`,
      baseline_uri: baseline,
      sha256,
      bytes,
      ...(versionId ? { artifact_version_id: versionId } : {}),
    };
  } finally {
    await objects.deleteTarget(await objects.listTarget(incoming));
  }
}

const incomingPrefix = (prefix: string, execution: string) => `${prefix}incoming/${safeSegment(execution)}/`;

async function streamCopy(objects: ReleaseObjects, from: S3Uri, toKey: string, uri: string): Promise<{ sha256: string; bytes: number }> {
  let source: Awaited<ReturnType<ReleaseObjects['readSource']>>;
  try {
    source = await objects.readSource(from);
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket') {
      throw new ReleaseError('SourceNotFound', `The source artifact ${uri} does not exist (${name})`);
    }
    throw new ReleaseError('SourceUnreachable', `The source artifact ${uri} could not be read: ${(err as Error).message}`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  async function* hashed() {
    for await (const chunk of source.body) {
      hash.update(chunk);
      bytes += chunk.length;
      yield chunk;
    }
  }
  await objects.writeTarget(toKey, hashed(), source.length);
  return { sha256: hash.digest('hex'), bytes };
}

export interface RegisterReleaseRequest {
  readonly plan: ReleasePlan;
  readonly copied: CopiedArtifacts;
  readonly execution: string;
}

export interface ReleasedVersion {
  readonly model: string;
  readonly version: string;
  readonly run_id: string;
}

/**
 * Step 3: registers the copy in the target registry: the model and its experiment if missing, a
 * run holding the source run's metrics and params, and a version with the lineage tags. Every
 * object carries the execution's name (`mlops.execution`), so a retry finds them and
 * {@link cleanUpRelease} can remove them.
 */
export async function registerRelease(target: MlflowClient, request: RegisterReleaseRequest, now: () => number = Date.now): Promise<ReleasedVersion> {
  const { plan, copied, execution } = request;
  const name = plan.model;
  const createdBy = [{ key: EXECUTION_TAG, value: execution }];
  try {
    await target.get('registered-models/get', { name });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await target.post('registered-models/create', { name, tags: createdBy, description: `Released from ${plan.source_environment}` });
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
    }
  }
  const experimentId = await experimentIdFor(target, name, createdBy);
  const found = await target.post<{ runs?: RunJson[] }>('runs/search', {
    experiment_ids: [experimentId],
    filter: `tags.\`${EXECUTION_TAG}\` = ${quote(execution)}`,
    max_results: 1,
  });
  let run = found.runs?.[0];
  if (!run) {
    run = (
      await target.post<{ run: RunJson }>('runs/create', {
        experiment_id: experimentId,
        run_name: execution,
        start_time: now(),
        tags: createdBy,
      })
    ).run;
  }
  const runId = run.info.run_id;
  if (run.info.status !== 'FINISHED') {
    const timestamp = now();
    await target.post('runs/log-batch', {
      run_id: runId,
      params: Object.entries(plan.params).map(([key, value]) => ({ key, value })),
      metrics: Object.entries(plan.metrics).map(([key, value]) => ({ key, value, timestamp, step: 0 })),
      tags: [
        { key: VERSION_TAGS.sourceEnvironment, value: plan.source_environment },
        { key: VERSION_TAGS.sourceRunId, value: plan.source_run_id },
        ...(plan.data_version ? [{ key: VERSION_TAGS.dataVersion, value: plan.data_version }] : []),
      ],
    });
    await target.post('runs/update', { run_id: runId, status: 'FINISHED', end_time: now() });
  }
  const { model_versions = [] } = await target.get<{ model_versions?: VersionJson[] }>('model-versions/search', {
    filter: `name = ${quote(name)} and run_id = ${quote(runId)}`,
  });
  let version = model_versions[0];
  if (!version) {
    // Two releases of one source version started together both passed "Read source version": the
    // later one to get here stops (and is cleaned up) rather than register a second copy.
    const other = await findRelease(target, name, plan.source_environment, plan.source_version);
    if (other && tagOf(other.tags, EXECUTION_TAG) !== execution) {
      throw new ReleaseError(
        'AlreadyReleased',
        `Version ${plan.source_version} of ${name} from ${plan.source_environment} was released here as version ${other.version} by another execution meanwhile`,
      );
    }
    version = (
      await target.post<{ model_version: VersionJson }>(
        'model-versions/create',
        {
          name,
          source: copied.artifact_uri,
          run_id: runId,
          tags: [
            ...createdBy,
            { key: VERSION_TAGS.sourceEnvironment, value: plan.source_environment },
            { key: VERSION_TAGS.sourceVersion, value: plan.source_version },
            { key: VERSION_TAGS.sourceRunId, value: plan.source_run_id },
            { key: VERSION_TAGS.artifactSha256, value: copied.sha256 },
            // The copy's own object version (not the source's): what the target's servers read.
            ...(copied.artifact_version_id ? [{ key: VERSION_TAGS.artifactVersionId, value: copied.artifact_version_id }] : []),
            { key: RELEASE_TAGS.sourceUri, value: plan.source_uri },
            ...(plan.data_version ? [{ key: VERSION_TAGS.dataVersion, value: plan.data_version }] : []),
            // The training data's lineage, as the source version records it (the object is not copied).
            ...(plan.data_version_uri ? [{ key: VERSION_TAGS.dataVersionUri, value: plan.data_version_uri }] : []),
            ...(plan.data_version_sha256 ? [{ key: VERSION_TAGS.dataVersionSha256, value: plan.data_version_sha256 }] : []),
            ...(copied.baseline_uri ? [{ key: VERSION_TAGS.baselineUri, value: copied.baseline_uri }] : []),
          ],
          description: `Released from ${plan.source_environment} version ${plan.source_version} (${plan.source_stage})`,
        },
        { 'x-mlops-idempotent': 'true' },
      )
    ).model_version;
  }
  return { model: name, version: String(version.version), run_id: runId };
}

/** Step 4a: the approved version enters Production (archiving the one before): the promotion event deploys it. */
export async function promoteRelease(target: MlflowClient, released: ReleasedVersion, approvedBy?: string): Promise<{ stage: string }> {
  await target.post('model-versions/set-tag', {
    name: released.model,
    version: released.version,
    key: RELEASE_TAGS.decision,
    value: approvedBy ? `approved by ${approvedBy}` : 'approved',
  });
  const { model_version } = await target.post<{ model_version: VersionJson }>('model-versions/transition-stage', {
    name: released.model,
    version: released.version,
    stage: 'Production',
    archive_existing_versions: true,
  });
  return { stage: model_version.current_stage ?? 'Production' };
}

/** Step 4b: a rejected version is archived, never served; the rejection is recorded on it. */
export async function rejectRelease(target: MlflowClient, released: ReleasedVersion, reason: string): Promise<{ stage: string }> {
  await target.post('model-versions/set-tag', {
    name: released.model,
    version: released.version,
    key: RELEASE_TAGS.decision,
    value: `rejected: ${reason}`.slice(0, 5000),
  });
  await target.post('model-versions/transition-stage', { name: released.model, version: released.version, stage: 'Archived' });
  return { stage: 'Archived' };
}

/**
 * After a failure: removes what this execution wrote: its incoming copies, final copies that no
 * version names, and a version it registered that was not promoted (then its run, experiment and
 * model as the training pipeline's rollback does). Safe to repeat and when nothing was written.
 */
export async function cleanUpRelease(
  target: MlflowClient,
  objects: ReleaseObjects,
  request: { model: string; execution: string; target_prefix?: string },
): Promise<{ removedVersion: string | null; removedObjects: number }> {
  let removedVersion: string | null = null;
  let keep = false;
  try {
    const { model_versions = [] } = await target.get<{ model_versions?: VersionJson[] }>('model-versions/search', {
      filter: `name = ${quote(request.model)} and tags.\`${EXECUTION_TAG}\` = ${quote(request.execution)}`,
    });
    for (const v of model_versions) {
      if (v.current_stage === 'Production') {
        keep = true;
        continue;
      }
      await target.delete('model-versions/delete', { name: request.model, version: v.version });
      removedVersion = v.version;
    }
  } catch (err) {
    if (!(err instanceof RegistryError && isNotFound(err))) throw err;
  }
  await rollbackRegistration(target, { model_name: request.model, execution: request.execution });
  let removedObjects = 0;
  if (request.target_prefix) {
    const incoming = await objects.listTarget(incomingPrefix(request.target_prefix, request.execution));
    // The final copies are shared by the one version a source version may have: removed only when
    // no version (of this execution or an earlier one) names them.
    const finals = keep || (await findAnyVersionUnder(target, request.model, objects.targetBucket, request.target_prefix))
      ? []
      : (await objects.listTarget(request.target_prefix)).filter((k) => !k.startsWith(`${request.target_prefix}incoming/`));
    await objects.deleteTarget([...incoming, ...finals]);
    removedObjects = incoming.length + finals.length;
  }
  return { removedVersion, removedObjects };
}

async function findAnyVersionUnder(target: MlflowClient, model: string, bucket: string, prefix: string): Promise<boolean> {
  try {
    const { model_versions = [] } = await target.get<{ model_versions?: VersionJson[] }>('model-versions/search', {
      filter: `name = ${quote(model)}`,
    });
    return model_versions.some((v) => v.source?.startsWith(`s3://${bucket}/${prefix}`));
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
