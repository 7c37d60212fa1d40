/**
 * MLflow's value rules (stages, versions, aliases, batch limits), with MLflow's messages verbatim so
 * clients that match on them keep working (sources: `mlflow/utils/validation.py`,
 * `mlflow/entities/model_registry/model_version_stages.py`).
 */
import { invalidParameter, missingValue } from './errors';

export const STAGES = ['None', 'Staging', 'Production', 'Archived'] as const;
export type Stage = (typeof STAGES)[number];
/** Stages `archive_existing_versions` may be used with, and whose entry emits a promotion event. */
export const ACTIVE_STAGES: readonly Stage[] = ['Staging', 'Production'];

/**
 * Canonicalises a stage name case-insensitively (`production` → `Production`), as MLflow does.
 *
 * @example
 * canonicalStage('staging'); // 'Staging'
 */
export function canonicalStage(stage: string): Stage {
  const found = STAGES.find((s) => s.toLowerCase() === stage.toLowerCase());
  if (!found) {
    throw invalidParameter(
      `Invalid Model Version stage: ${stage}. Value must be one of ${STAGES.join(', ')}.`,
    );
  }
  return found;
}

/** Parses a version number given as string or number; MLflow's message on anything non-integer. */
export function parseVersion(version: string | number): number {
  const text = String(version).trim();
  // Python's int() accepts surrounding whitespace and a sign; versions start at 1 in practice.
  if (!/^[+-]?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw invalidParameter(`Parameter 'version' must be an integer, got '${version}'.`);
  }
  return Number(text);
}

/**
 * The longest name or id, in characters: MLflow's SQL schema holds registered model and experiment
 * names in VARCHAR(256), and the registry keys items by them in DynamoDB, whose sort keys hold at
 * most 1,024 bytes (256 UTF-16 units are at most 768 UTF-8 bytes). Longer values would fail in
 * DynamoDB as a 500; they are the client's mistake.
 */
export const MAX_NAME_LENGTH = 256;
/** Parameters that are not identifiers (a version's source URI is stored, never keyed by). */
const UNKEYED_PARAMS = new Set(['source']);

/** Required, non-empty names and ids (MLflow treats `""` as absent), within {@link MAX_NAME_LENGTH}. */
export function requireName(value: string | undefined, param = 'name'): string {
  if (value === undefined || value === '') throw missingValue(param);
  if (typeof value !== 'string') {
    throw invalidParameter(`Parameter '${param}' must be a string, but ${JSON.stringify(value)} was provided.`);
  }
  if (value.length > MAX_NAME_LENGTH && !UNKEYED_PARAMS.has(param)) {
    throw invalidParameter(
      `Parameter '${param}' '${value.slice(0, 50)}…' had length ${value.length}, which exceeded length limit of ${MAX_NAME_LENGTH}`,
    );
  }
  return value;
}

const ALIAS_PATTERN = /^[\w-]*$/;
const VERSION_ALIAS_PATTERN = /^[vV]\d+$/;
const MAX_ALIAS_LENGTH = 255;

/** Rejects aliases MLflow rejects, with its messages. */
export function validateAlias(alias: string): void {
  if (alias === '') throw invalidParameter('Registered model alias name cannot be empty.');
  if (!ALIAS_PATTERN.test(alias)) {
    throw invalidParameter(
      `Invalid alias name: '${alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-).`,
    );
  }
  if (alias.length > MAX_ALIAS_LENGTH) {
    throw invalidParameter(
      `Registered model alias name '${alias}' had length ${alias.length}, which exceeded length limit of ${MAX_ALIAS_LENGTH}`,
    );
  }
  if (alias.toLowerCase() === 'latest')
    throw invalidParameter("'latest' alias name (case insensitive) is reserved.");
  if (VERSION_ALIAS_PATTERN.test(alias)) throw invalidParameter(`Version alias name '${alias}' is reserved.`);
}

/** Model version sources may not climb out of their location (MLflow's path-traversal check). */
export function validateSource(source: string): void {
  const path = source.replace(/^[a-zA-Z][\w+.-]*:\/\/?[^/]*/, '');
  if (decodeURIComponent(path).split(/[\\/]/).includes('..')) {
    throw invalidParameter(`Invalid model version source: '${source}'. Source paths may not contain '..'.`);
  }
}

/** log-batch limits from MLflow (`MAX_METRICS_PER_BATCH` and friends). */
export const BATCH_LIMITS = { metrics: 1000, params: 100, tags: 100, total: 1000 } as const;
export const MAX_BATCH_REQUEST_BYTES = 1_000_000;
export const MAX_PARAM_VALUE_LENGTH = 6000;
export const MAX_ENTITY_KEY_LENGTH = 250;
export const MAX_TAG_VALUE_LENGTH = 8000;

export function validateBatchCounts(counts: { metrics: number; params: number; tags: number }): void {
  for (const name of ['metrics', 'params', 'tags'] as const) {
    const limit = BATCH_LIMITS[name];
    if (counts[name] > limit) {
      throw invalidParameter(
        `A batch logging request can contain at most ${limit} ${name}. Got ${counts[name]} ${name}. ` +
          `Please split up ${name} across multiple requests and try again.`,
      );
    }
  }
  const total = counts.metrics + counts.params + counts.tags;
  if (total > BATCH_LIMITS.total) {
    throw invalidParameter(
      `A batch logging request can contain at most ${BATCH_LIMITS.total} total metrics, params, and tags. ` +
        `Got ${total}. Please split up metrics, params, and tags across multiple requests and try again.`,
    );
  }
}

export function validateKey(kind: string, key: string): void {
  if (key === '') throw missingValue('key');
  if (key.length > MAX_ENTITY_KEY_LENGTH) {
    throw invalidParameter(
      `${kind} '${key.slice(0, 50)}…' had length ${key.length}, which exceeded length limit of ${MAX_ENTITY_KEY_LENGTH}`,
    );
  }
}

export function validateParamValue(key: string, value: string): void {
  if (value.length > MAX_PARAM_VALUE_LENGTH) {
    throw invalidParameter(
      `Param value '${value.slice(0, 50)}…' had length ${value.length}, which exceeded length limit of ${MAX_PARAM_VALUE_LENGTH} (key '${key}')`,
    );
  }
}

export function validateTagValue(key: string, value: string): void {
  if (value.length > MAX_TAG_VALUE_LENGTH) {
    throw invalidParameter(
      `Tag value '${value.slice(0, 50)}…' had length ${value.length}, which exceeded length limit of ${MAX_TAG_VALUE_LENGTH} (key '${key}')`,
    );
  }
}
