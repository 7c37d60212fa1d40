/**
 * The drift machine's first step ("Resolve window"): validate the execution input, resolve the
 * model version and its training baseline through the registry, and plan the one Athena query that
 * aggregates the window of the request log (per-feature value counts and the prediction's), so
 * the state machine only moves values from one step to the next.
 *
 * Nothing is written here: a bad input, an unknown model or version, or a version without a
 * baseline fails the step with a {@link DriftInputError} before any query runs.
 *
 * The window is `[start, end)` in UTC; by default the day before `end`, `end` defaulting to now.
 * The query names the log's partitions (`deployment`, `dt`) so Athena reads only the window's days
 * of that deployment (partition projection), then filters on the line's version and timestamp.
 *
 * @example
 * const plan = await planDrift({ input: { model: 'wine-quality' }, execution: 'drift-1' }, deps);
 * plan.query; // SELECT grouping(…) … FROM (… FROM "mlops_local"."prediction_log" WHERE "deployment" = 'wine-quality' …)
 */
import { DriftInputError } from '../drift';
import { PREDICTION_FEATURE, VERSION_TAGS } from '../shared/operations';
import { ident, literal } from '../shared/sql';
import { parseS3Uri } from './catalog';
import { isAliasNotFound, isNotFound, type MlflowClient } from './mlflow-client';
import type { ObjectStore } from './objects';
import { valueCountsQuery } from './value-counts';

export { DriftInputError };

/** Longest window one execution aggregates. @default 31 days */
export const DEFAULT_MAX_WINDOW_DAYS = 31;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface DriftInput {
  readonly model: string;
  readonly version?: string;
  readonly stage?: string;
  readonly start: Date;
  readonly end: Date;
}

/** Model names as the registry and the serving layer both accept them (they become SQL literals and S3 keys). */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const STAGES = ['Production', 'Staging'] as const;

const describe = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));

function parseTime(value: unknown, field: string): Date | undefined {
  if (value === undefined || value === null) return undefined;
  // A date alone is midnight UTC; anything else must carry its zone, so "10:00" means one instant.
  const text = typeof value === 'string' ? value : '';
  const ok = /^\d{4}-\d{2}-\d{2}$/.test(text) || /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text);
  const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
  if (!ok || Number.isNaN(date.getTime())) {
    throw new DriftInputError(
      `${field} must be an ISO 8601 date or UTC timestamp (2026-12-01 or 2026-12-01T10:00:00Z), but ${describe(value)} was provided`,
    );
  }
  return date;
}

/** Validates the execution input; `now` ends the default window. */
export function parseDriftInput(raw: unknown, now: Date, maxWindowDays = DEFAULT_MAX_WINDOW_DAYS): DriftInput {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new DriftInputError(`the drift input must be a JSON object like {"model": "wine-quality"}, but ${describe(raw)} was provided`);
  }
  const input = raw as Record<string, unknown>;
  const known = new Set(['model', 'version', 'stage', 'start', 'end']);
  const unknown = Object.keys(input).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new DriftInputError(`the drift input takes model, version, stage, start and end, but ${unknown.join(', ')} was provided`);
  }
  const model = input['model'];
  if (typeof model !== 'string' || !MODEL_NAME.test(model)) {
    throw new DriftInputError(`model must be a registered model's name (letters, digits, '.', '_', '-'), but ${describe(model)} was provided`);
  }
  let version: string | undefined;
  if (input['version'] !== undefined) {
    version = String(input['version']);
    if (!/^[1-9]\d{0,9}$/.test(version)) {
      throw new DriftInputError(`version must be a model version number (1, 2, …), but ${describe(input['version'])} was provided`);
    }
  }
  const stage = input['stage'];
  if (stage !== undefined && !STAGES.includes(stage as (typeof STAGES)[number])) {
    throw new DriftInputError(`stage must be one of ${STAGES.join(', ')}, but ${describe(stage)} was provided`);
  }
  if (version !== undefined && stage !== undefined) {
    throw new DriftInputError('give version or stage, not both: each names the version whose baseline is the reference');
  }
  const end = parseTime(input['end'], 'end') ?? now;
  const start = parseTime(input['start'], 'start') ?? new Date(end.getTime() - DAY_MS);
  if (end.getTime() <= start.getTime()) {
    throw new DriftInputError(`end must be after start, but start ${start.toISOString()} and end ${end.toISOString()} were provided`);
  }
  if (end.getTime() - start.getTime() > maxWindowDays * DAY_MS) {
    throw new DriftInputError(
      `the window must be at most ${maxWindowDays} days, but ${((end.getTime() - start.getTime()) / DAY_MS).toFixed(1)} days (${start.toISOString()} to ${end.toISOString()}) were provided`,
    );
  }
  return { model, ...(version ? { version } : {}), ...(typeof stage === 'string' ? { stage } : {}), start, end };
}

interface ModelVersionJson {
  name?: string;
  version: string;
  source?: string;
  run_id?: string;
  current_stage?: string;
  tags?: { key: string; value: string }[];
}

/** The version a drift run compares with, and where its baseline is. */
export interface ResolvedVersion {
  readonly version: string;
  /** How it was chosen: `version`, `stage:Production`, `alias:champion`, `latest`. */
  readonly by: string;
  readonly baselineUri: string;
  readonly source?: string;
}

/**
 * The version named by the input, else the `champion` alias, else the latest `Production`
 * version, else the latest version; with its baseline URI from the {@link VERSION_TAGS} tag.
 */
export async function resolveVersion(client: MlflowClient, input: Pick<DriftInput, 'model' | 'version' | 'stage'>): Promise<ResolvedVersion> {
  const name = input.model;
  try {
    await client.get('registered-models/get', { name });
  } catch (err) {
    if (isNotFound(err)) throw new DriftInputError(`model must be a registered model, but ${JSON.stringify(name)} is not registered`);
    throw err;
  }
  let found: ModelVersionJson | undefined;
  let by: string;
  if (input.version !== undefined) {
    by = 'version';
    try {
      found = (await client.get<{ model_version: ModelVersionJson }>('model-versions/get', { name, version: input.version })).model_version;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      throw new DriftInputError(`version must be a version of ${name}, but ${name} has no version ${input.version}`);
    }
  } else if (input.stage !== undefined) {
    by = `stage:${input.stage}`;
    found = (
      await client.post<{ model_versions?: ModelVersionJson[] }>('registered-models/get-latest-versions', { name, stages: [input.stage] })
    ).model_versions?.[0];
    if (!found) throw new DriftInputError(`stage ${input.stage} of ${name} must hold a version, but it holds none`);
  } else {
    by = 'alias:champion';
    try {
      found = (await client.get<{ model_version: ModelVersionJson }>('registered-models/alias', { name, alias: 'champion' })).model_version;
    } catch (err) {
      if (!isNotFound(err) && !isAliasNotFound(err)) throw err;
    }
    if (!found) {
      by = 'stage:Production';
      found = (
        await client.post<{ model_versions?: ModelVersionJson[] }>('registered-models/get-latest-versions', { name, stages: ['Production'] })
      ).model_versions?.[0];
    }
    if (!found) {
      by = 'latest';
      const all = (await client.post<{ model_versions?: ModelVersionJson[] }>('registered-models/get-latest-versions', { name })).model_versions ?? [];
      found = all.sort((a, b) => Number(b.version) - Number(a.version))[0];
    }
    if (!found) throw new DriftInputError(`model ${name} must have a version to compare with, but it has none`);
  }
  // A get-by-alias answer may omit tags on some servers: read the version itself for them.
  if (!found.tags) {
    found = (await client.get<{ model_version: ModelVersionJson }>('model-versions/get', { name, version: String(found.version) })).model_version;
  }
  const baselineUri = found.tags?.find((t) => t.key === VERSION_TAGS.baselineUri)?.value;
  if (!baselineUri) {
    throw new DriftInputError(
      `version ${found.version} of ${name} must name its training baseline (tag ${VERSION_TAGS.baselineUri}), but it has none: it was registered before baselines were written; train it again`,
    );
  }
  return { version: String(found.version), by, baselineUri, ...(found.source ? { source: found.source } : {}) };
}

/** The request log as the drift query reads it. */
export interface RequestLogTable {
  readonly database: string;
  readonly table: string;
}

/** The days `[start, end)` touches, as the log's `dt` partition values. */
export function windowDays(start: Date, end: Date): string[] {
  const days: string[] = [];
  const last = new Date(end.getTime() - 1).toISOString().slice(0, 10);
  for (let d = new Date(start.toISOString().slice(0, 10) + 'T00:00:00Z'); ; d = new Date(d.getTime() + DAY_MS)) {
    const day = d.toISOString().slice(0, 10);
    days.push(day);
    if (day >= last) return days;
  }
}

/**
 * The window's value counts: one column per feature (`features['<name>']`) and the prediction,
 * over the prediction lines (feedback lines carry a `kind`) of one deployment's version, in the
 * window's `dt` partitions and its timestamps.
 */
export function windowQuery(options: {
  readonly log: RequestLogTable;
  readonly deployment: string;
  readonly version: string;
  readonly features: readonly string[];
  readonly start: Date;
  readonly end: Date;
}): string {
  const days = windowDays(options.start, options.end);
  const where = [
    `${ident('deployment')} = ${literal(options.deployment)}`,
    `${ident('version')} = ${literal(options.version)}`,
    days.length === 1 ? `${ident('dt')} = ${literal(days[0]!)}` : `${ident('dt')} BETWEEN ${literal(days[0]!)} AND ${literal(days.at(-1)!)}`,
    `${ident('ts')} >= ${literal(options.start.toISOString())}`,
    `${ident('ts')} < ${literal(options.end.toISOString())}`,
    `${ident('kind')} IS NULL`,
  ].join(' AND ');
  return valueCountsQuery({
    from: `${ident(options.log.database)}.${ident(options.log.table)}`,
    where,
    columns: [
      ...options.features.map((f) => ({ name: f, expr: `${ident('features')}[${literal(f)}]` })),
      { name: PREDICTION_FEATURE, expr: ident('prediction') },
    ],
  });
}

/** What "Resolve window" returns: the plan every later state reads from `$.plan`. */
export interface DriftPlan {
  readonly model: string;
  readonly version: string;
  readonly resolved_by: string;
  readonly deployment: string;
  readonly baseline_uri: string;
  readonly window: { readonly start: string; readonly end: string };
  /** Feature columns in the query's order; the prediction is the last column. */
  readonly features: readonly string[];
  readonly query: string;
  readonly report: { readonly json: string; readonly html: string; readonly prefix: string };
}

export interface DriftPlanDeps {
  readonly registry: MlflowClient;
  readonly objects: ObjectStore;
  readonly log: RequestLogTable;
  /** The curated bucket reports go to (`drift/<model>/<window end>/<execution>/`). */
  readonly reportsBucket: string;
  /** The deployment a model is served as (the Seldon name). */
  readonly deploymentOf: (model: string) => string;
  readonly now?: () => Date;
  readonly maxWindowDays?: number;
}

/** Where reports go below the curated bucket. */
export const DRIFT_REPORTS_PREFIX = 'drift/';

/** Execution names become S3 keys: the safe set only. */
const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/** Reads a baseline's feature names: the columns the window is aggregated for. */
export type BaselineFeatures = (baselineJson: unknown, uri: string) => readonly string[];

export async function planDrift(
  request: { readonly input: unknown; readonly execution: unknown },
  deps: DriftPlanDeps,
  baselineFeatures: BaselineFeatures,
): Promise<DriftPlan> {
  const execution = String(request.execution ?? '');
  if (!EXECUTION_NAME.test(execution)) {
    throw new DriftInputError(
      `the execution name must be 1-80 letters, digits, "-" or "_" (it names the report's S3 prefix), but ${JSON.stringify(execution)} was provided`,
    );
  }
  const input = parseDriftInput(request.input, (deps.now ?? (() => new Date()))(), deps.maxWindowDays);
  const resolved = await resolveVersion(deps.registry, input);
  const { bucket, key } = parseS3Uri(resolved.baselineUri, `the ${VERSION_TAGS.baselineUri} tag`);
  let baseline: unknown;
  try {
    baseline = JSON.parse(Buffer.from((await deps.objects.get(bucket, key)).body).toString('utf8'));
  } catch (err) {
    throw new DriftInputError(`the baseline of ${input.model} version ${resolved.version} (${resolved.baselineUri}) cannot be read: ${(err as Error).message}`);
  }
  const features = baselineFeatures(baseline, resolved.baselineUri).filter((f) => f !== PREDICTION_FEATURE);
  const deployment = deps.deploymentOf(input.model);
  // Colons are legal in S3 keys but awkward in URLs and shells: the window end keeps its digits.
  const endKey = input.end.toISOString().replace(/[:.]/g, '-');
  const prefix = `${DRIFT_REPORTS_PREFIX}${input.model}/${endKey}/${execution}/`;
  return {
    model: input.model,
    version: resolved.version,
    resolved_by: resolved.by,
    deployment,
    baseline_uri: resolved.baselineUri,
    window: { start: input.start.toISOString(), end: input.end.toISOString() },
    features,
    query: windowQuery({ log: deps.log, deployment, version: resolved.version, features, start: input.start, end: input.end }),
    report: {
      prefix: `s3://${deps.reportsBucket}/${prefix}`,
      json: `s3://${deps.reportsBucket}/${prefix}report.json`,
      html: `s3://${deps.reportsBucket}/${prefix}report.html`,
    },
  };
}
