/**
 * The Models page as data: a version's lineage from its tags and its run, the stage moves offered,
 * MLflow's alias rules (checked before the confirmation, so the dialog never confirms a request the
 * registry will refuse) and the version's baseline and drift report links.
 */
import type { ModelVersion, Run, Stage } from '../api/mlflow-types';
import { STAGES } from '../api/mlflow-types';
import { VERSION_TAGS } from '../../shared/operations';

/** Run-side lineage the training pipeline records (lib/pipelines/register.ts). */
export const RUN_LINEAGE = {
  /** Run tag: the object versions the run trained on (JSON). */
  dataVersion: 'mlops.data_version',
  /** Run param: the feature service the run's features came from. */
  featureService: 'feature_service',
  /** Run param: the dataset table. */
  dataset: 'dataset',
  /** Run tag: the execution that trained it. */
  execution: 'mlops.execution',
} as const;

/** Where a version came from, each part absent when nothing records it. */
export interface Lineage {
  readonly runId?: string;
  readonly experimentId?: string;
  readonly dataset?: string;
  readonly dataVersion?: string;
  readonly featureService?: string;
  readonly execution?: string;
  /** A released version: the environment, version and run it was promoted from. */
  readonly source?: { readonly environment: string; readonly version?: string; readonly runId?: string };
  readonly artifactSha256?: string;
  readonly baselineUri?: string;
}

const tagOf = (tags: readonly { key: string; value: string }[] | undefined, key: string) =>
  tags?.find((t) => t.key === key)?.value;

/**
 * A version's lineage: its own tags first (a released version carries its source's data version),
 * then its run's tags and params.
 *
 * @example
 * lineage(version, run).featureService; // 'wine_quality_v1' for a run trained from the feature store
 */
export function lineage(version: ModelVersion, run: Run | undefined): Lineage {
  const v = (key: string) => tagOf(version.tags, key);
  const runTag = (key: string) => tagOf(run?.data.tags, key);
  const runParam = (key: string) => tagOf(run?.data.params, key);
  const environment = v(VERSION_TAGS.sourceEnvironment);
  const out: Record<string, unknown> = {
    runId: version.run_id,
    experimentId: run?.info.experiment_id,
    dataset: runParam(RUN_LINEAGE.dataset),
    dataVersion: v(VERSION_TAGS.dataVersion) ?? runTag(RUN_LINEAGE.dataVersion),
    featureService: runParam(RUN_LINEAGE.featureService),
    execution: runTag(RUN_LINEAGE.execution) ?? v(RUN_LINEAGE.execution),
    source: environment
      ? {
          environment,
          version: v(VERSION_TAGS.sourceVersion),
          runId: v(VERSION_TAGS.sourceRunId),
        }
      : undefined,
    artifactSha256: v(VERSION_TAGS.artifactSha256),
    baselineUri: v(VERSION_TAGS.baselineUri),
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out as Lineage;
}

/** The stages a version can be moved to from its current one (every other stage, as MLflow allows). */
export function stageTargets(current: Stage): Stage[] {
  return STAGES.filter((s) => s !== current);
}

/**
 * MLflow's alias rules (`_validate_model_alias_name`): letters, digits, `_` and `-`, at most 255
 * characters, not `latest` and not shaped like a version reference (`v1`, `V12`). Returns the
 * sentence to show, or undefined when the alias is valid.
 *
 * @example
 * aliasProblem('v2'); // "The alias must not look like a version (v<number>), but 'v2' was provided"
 */
export function aliasProblem(alias: string): string | undefined {
  if (alias === '') return 'The alias must not be empty';
  if (alias.length > 255) return `The alias must be at most 255 characters, but ${alias.length} were provided`;
  if (!/^[\w-]+$/.test(alias)) {
    return `The alias must hold only letters, digits, '_' and '-', but '${alias}' was provided`;
  }
  if (alias.toLowerCase() === 'latest') return "The alias must not be 'latest' (MLflow reserves it)";
  if (/^v\d+$/i.test(alias)) return `The alias must not look like a version (v<number>), but '${alias}' was provided`;
  return undefined;
}

/** A report link: what it is, and where (an s3:// URI, shown as text; an http(s) URL, a link). */
export interface ReportLink {
  readonly label: string;
  readonly uri: string;
  readonly href?: string;
}

/**
 * Turns an `s3://bucket/key` URI into a URL on the platform's S3 endpoint when the console knows
 * one, so the browser can open the object; other URIs stay text.
 */
export function reportHref(uri: string, s3Endpoint: string): string | undefined {
  if (/^https?:\/\//.test(uri)) return uri;
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m || !s3Endpoint) return undefined;
  return `${s3Endpoint.replace(/\/+$/, '')}/${m[1]}/${m[2]!.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * The prefix drift reports of a model are written under in the curated zone
 * (`drift/<model>/...`), by the drift machine.
 */
export const driftReportPrefix = (model: string): string => `drift/${model}/`;

/**
 * Picks the report files out of an S3 listing of the drift prefix: the HTML and JSON reports,
 * newest first (keys carry the window, so a descending key sort is a time sort).
 */
export function driftReports(keys: readonly string[]): { key: string; kind: 'html' | 'json' }[] {
  return keys
    .filter((k) => /\.(html|json)$/i.test(k))
    .sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))
    .map((key) => ({ key, kind: key.toLowerCase().endsWith('.html') ? ('html' as const) : ('json' as const) }));
}

/**
 * The text of every `<tag>` element of an S3 XML answer, entities decoded. S3's listings are flat
 * and regular, so this needs no XML parser (and runs in the unit tests without a DOM).
 *
 * @example
 * xmlValues('<R><Key>a&amp;b</Key><Key>c</Key></R>', 'Key'); // ['a&b', 'c']
 */
export function xmlValues(xml: string, tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g');
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    out.push(
      m[1]!.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (_e, name: string) => {
        const named: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };
        if (name[0] !== '#') return named[name.toLowerCase()]!;
        return String.fromCodePoint(name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10));
      }),
    );
  }
  return out;
}

/** The bucket of the lake's curated zone among the buckets, by the kit's construct naming. */
export const curatedBucket = (buckets: readonly string[]): string | undefined => buckets.find((b) => /curated/i.test(b));
