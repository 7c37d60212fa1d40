/**
 * What the feature store stack's materialization workflow runs, and the lake naming the stack and
 * the workflow share:
 *
 * - {@link lakeRelation}: the definitions name a logical database (`features`); the platform has
 *   one Glue database per environment (`config.dataLake.glueDatabaseName`), so the stack registers
 *   every offline table there and the SQL names `"<lake database>"."<table>"`.
 * - {@link planMaterialization}: validates a workflow input `{start?, end?, featureView?}`, starts
 *   each view's window at its recorded `window_end` (incremental) or its TTL, and renders the
 *   UNLOAD of each view's `materializationSql` (pure: the handler reads the recorded windows).
 * The plan step's Lambda adapter is `lambdas/materialize-plan.ts`.
 *
 * The SQL is built here, from parsed `Date`s, rather than spliced into a template with
 * `States.Format`: a window value reaches the SQL only as the output of `formatLakeTimestamp`, so
 * no input string can end a literal, and the TTL bound is computed the same way as in tests.
 *
 * Lambdas import this module: it must not import aws-cdk-lib (the bundle would carry it).
 *
 * @example
 * const plan = planMaterialization(wineRepo, { end: '2024-01-02T00:00:00Z' }, {
 *   database: 'mlops_local',
 *   now: new Date(),
 *   unloadLocation: 's3://curated/materialize/unload/',
 *   execution: 'run-1',
 *   recorded: new Map(),
 * });
 * plan.views[0]?.sql; // UNLOAD (SELECT … FROM "mlops_local"."wine_features" … WHERE "dt" BETWEEN …) TO 's3://curated/materialize/unload/run-1/wine_features/' …
 */
import { z } from 'zod';
import { DAY_PARTITION, type FeatureRepo, type LakeTable } from './definitions';
import { ident, materializationSql, type RelationOf } from './retrieval';
import { type AttemptUnload, attemptUnload } from '../shared/unload';

/** Glue database names the stack and the plan accept (Glue and Athena lower-case them). */
export const DATABASE_NAME = /^[a-z][a-z0-9_]{0,254}$/;

/**
 * How the SQL generators reference a definition's lake table: the table inside the lake's one Glue
 * database, whatever logical database the definition names.
 *
 * @example
 * lakeRelation('mlops_local')(wineFeatures.source); // '"mlops_local"."wine_features"'
 */
export function lakeRelation(database: string): RelationOf {
  if (!DATABASE_NAME.test(database)) {
    throw new Error(`the lake database must match ${DATABASE_NAME}, but '${database}' was provided`);
  }
  return (t: LakeTable) => `${ident(database)}.${ident(t.table)}`;
}

/**
 * The online-table key of a view's materialization record (the last window written). Upper case
 * cannot occur in a view name (snake_case), so it never collides with a feature row's key.
 *
 * @example
 * materializationRecordKey('wine_features'); // 'MATERIALIZATION#wine_features'
 */
export const materializationRecordKey = (featureView: string): string => `MATERIALIZATION#${featureView}`;
export const MATERIALIZATION_RECORD_PREFIX = 'MATERIALIZATION#';

/**
 * Key prefix of materialization's objects in the curated bucket: `unload/<execution>/<view>/` (each
 * run's UNLOAD parts, which the Distributed Map lists) and `results/<map run id>/` (its
 * ResultWriter's manifest and result files).
 */
export const MATERIALIZATION_S3_PREFIX = 'materialize/';
export const MATERIALIZATION_UNLOAD_PREFIX = `${MATERIALIZATION_S3_PREFIX}unload/`;
export const MATERIALIZATION_RESULTS_PREFIX = `${MATERIALIZATION_S3_PREFIX}results/`;

/** Thrown for a workflow input that cannot be planned; the state machine fails with this name. */
export class InvalidMaterializationInput extends Error {
  override readonly name = 'InvalidMaterializationInput';
}

// An explicit zone (Z or ±hh:mm) is required: a zone-less time means different windows to a
// laptop and to Lambda (UTC).
const timestamp = (what: string) =>
  z.iso.datetime({
    offset: true,
    local: false,
    error: `${what} must be an ISO 8601 timestamp with a zone, e.g. 2024-01-01T00:00:00Z`,
  });

/** The state machine's input. Unknown keys are refused so that a typo (`stat`) is not ignored. */
export const materializationInputSchema = z.strictObject({
  /**
   * Window start, inclusive (a backfill).
   * @default - the view's recorded window end (incremental), else its TTL before `end` (the epoch for views without one)
   */
  start: timestamp('start').optional(),
  /** Window end, exclusive. @default - the execution's start time */
  end: timestamp('end').optional(),
  /** One view to materialize. @default - every online view */
  featureView: z.string().min(1).optional(),
});

export type MaterializationInput = z.infer<typeof materializationInputSchema>;

/**
 * The execution input, validated: what the plan handler checks before reading any recorded window.
 *
 * @throws InvalidMaterializationInput listing the problems.
 */
export function parseMaterializationInput(input: unknown): MaterializationInput {
  const parsed = materializationInputSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`);
    throw new InvalidMaterializationInput(`invalid materialization input: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** Thrown when a view's recorded window cannot be read; the state machine fails with this name. */
export class InvalidMaterializationState extends Error {
  override readonly name = 'InvalidMaterializationState';
}

/** What the plan reads of a view's recorded window (the online table's `MATERIALIZATION#<view>` item). */
export type RecordedWindow = Readonly<Record<string, unknown>>;

/** Step Functions execution names the plan accepts: they name the run's UNLOAD prefix. */
const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/** Where a view's window starts: the request's `start`, the recorded `window_end`, or the TTL. */
export type WindowFrom = 'input' | 'recorded' | 'ttl';

/** One view's step of a plan: the per-view Distributed Map iterates over these. */
export interface PlannedView {
  readonly featureView: string;
  /** The lower bound the SQL applies, ISO 8601 UTC: `max(from, end - ttl)`. */
  readonly start: string;
  /** ISO 8601 UTC (`toISOString`), so records compare as strings in time order. */
  readonly end: string;
  /** What `start` came from (`recorded`: an incremental run from the last recorded window end). */
  readonly from: WindowFrom;
  /**
   * `s3://<bucket>/<prefix>`: the run's folder for the view, one per execution and view; each
   * attempt of the Unload step writes into its own empty `<unloadLocation>attempt-<redrive>-<retry>/`.
   */
  readonly unloadLocation: string;
  /** The bucket and prefix of `unloadLocation`; the ItemReader lists `<unloadPrefix><attempt>/`. */
  readonly unloadBucket: string;
  readonly unloadPrefix: string;
  /**
   * `UNLOAD (<materializationSql>) TO '<unloadLocation><attempt>/' WITH (format = 'JSON')`, cut
   * around the attempt's folder (lib/shared/unload.ts): Athena refuses to UNLOAD where an earlier
   * attempt wrote, so a retried or redriven Unload writes beside it.
   */
  readonly unload: AttemptUnload;
}

export interface MaterializationPlan {
  /** The requested start, or null when each view starts from its recorded window (or TTL). */
  readonly start: string | null;
  readonly end: string;
  readonly views: readonly PlannedView[];
  /** Views whose recorded window already reaches `end`: nothing to materialize. */
  readonly upToDate: readonly string[];
}

/** What the plan needs besides the input. */
export interface PlanContext {
  readonly database: string;
  /** The default window end (the execution's start time). */
  readonly now: Date;
  /** `s3://<bucket>/<prefix>/` under which each run UNLOADs, `<execution>/<view>/`. */
  readonly unloadLocation: string;
  /** The execution's name: it names the run's UNLOAD prefix (an UNLOAD target must be empty). */
  readonly execution: string;
  /** Each view's recorded window, by view name; a view never materialized is absent. */
  readonly recorded: ReadonlyMap<string, RecordedWindow>;
}

/**
 * Plans a materialization run: one UNLOAD per view over `[from, end)`, Feast's
 * `materialize-incremental` when no `start` is given.
 *
 * - `from` is the request's `start` (a backfill), else the view's recorded `window_end` (the end of
 *   the last run that succeeded: the machine records it only after the view's rows are written),
 *   else the view's TTL before `end` (the epoch for views without one). A failed run records
 *   nothing, so the next run redoes its window; writes are newer-wins, so redoing is harmless.
 * - Either way the window never reaches further back than the TTL: older rows would be expired
 *   when served.
 * - A view whose recorded window already reaches `end` is listed in `upToDate`, not planned.
 *
 * @throws InvalidMaterializationInput naming the bad value; InvalidMaterializationState when a
 *   view's recorded window is unreadable.
 * @example
 * planMaterialization(wineRepo, {}, { database: 'mlops_staging', now: new Date(),
 *   unloadLocation: 's3://curated/materialize/unload/', execution: 'run-1', recorded: new Map() }).views.length; // 1
 */
export function planMaterialization(repo: FeatureRepo, input: unknown, context: PlanContext): MaterializationPlan {
  const { start, end, featureView } = parseMaterializationInput(input);
  const endMs = end === undefined ? context.now.getTime() : Date.parse(end);
  const startMs = start === undefined ? undefined : Date.parse(start);
  if (!Number.isFinite(endMs)) {
    throw new InvalidMaterializationInput(
      `end must be a valid time, but ${JSON.stringify(end ?? context.now)} was provided`,
    );
  }
  if (startMs !== undefined && !(startMs < endMs)) {
    throw new InvalidMaterializationInput(
      `start must be before end, but ${start} >= ${new Date(endMs).toISOString()} was provided`,
    );
  }
  if (!EXECUTION_NAME.test(context.execution)) {
    throw new InvalidMaterializationInput(
      `the execution name must be 1-80 letters, digits, "-" or "_" (it names the run's UNLOAD prefix), but ${JSON.stringify(context.execution)} was provided`,
    );
  }
  const unload = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/((?:[A-Za-z0-9_.=-]+\/)*)$/.exec(context.unloadLocation);
  if (!unload) {
    throw new InvalidMaterializationInput(
      `the UNLOAD location must be an s3://bucket/prefix/ ending in '/', but ${JSON.stringify(context.unloadLocation)} was provided`,
    );
  }

  const online = [...repo.featureViews.values()].filter((v) => v.online !== false);
  let views = online;
  if (featureView !== undefined) {
    views = online.filter((v) => v.name === featureView);
    if (views.length === 0) {
      throw new InvalidMaterializationInput(
        `featureView must be one of ${online.map((v) => v.name).join(', ')}, but '${featureView}' was provided`,
      );
    }
  }

  const relationOf = lakeRelation(context.database);
  const endIso = new Date(endMs).toISOString();
  const planned: PlannedView[] = [];
  const upToDate: string[] = [];
  for (const view of views) {
    let from: WindowFrom;
    let fromMs: number;
    if (startMs !== undefined) {
      [from, fromMs] = ['input', startMs];
    } else {
      const recorded = context.recorded.get(view.name);
      [from, fromMs] =
        recorded === undefined
          ? ['ttl', view.ttlSeconds > 0 ? endMs - view.ttlSeconds * 1000 : 0]
          : ['recorded', recordedEnd(view.name, recorded)];
    }
    const lowerMs = view.ttlSeconds > 0 ? Math.max(fromMs, endMs - view.ttlSeconds * 1000) : fromMs;
    if (lowerMs >= endMs) {
      upToDate.push(view.name);
      continue;
    }
    const prefix = `${unload[2]}${context.execution}/${view.name}/`;
    const location = `s3://${unload[1]}/${prefix}`;
    const select = materializationSql({
      repo,
      featureView: view.name,
      start: new Date(lowerMs),
      end: new Date(endMs),
      relationOf,
      dayPartition: DAY_PARTITION,
    });
    planned.push({
      featureView: view.name,
      start: new Date(lowerMs).toISOString(),
      end: endIso,
      from,
      unloadLocation: location,
      unloadBucket: unload[1]!,
      unloadPrefix: prefix,
      unload: attemptUnload(`\n${select}\n`, location, 'JSON'),
    });
  }
  return {
    start: startMs === undefined ? null : new Date(startMs).toISOString(),
    end: endIso,
    views: planned,
    upToDate,
  };
}

/** A recorded window's end, in epoch ms. */
function recordedEnd(view: string, recorded: RecordedWindow): number {
  const value = recorded['window_end'];
  const ms = typeof value === 'string' && ISO_WITH_ZONE.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new InvalidMaterializationState(
      `the recorded window of ${view} (online table item pk=${materializationRecordKey(view)}) is unusable: ` +
        `window_end ${JSON.stringify(value ?? null)} is not an ISO 8601 time with a zone. Run with an explicit ` +
        `{"start": …} to materialize from there (the record is replaced when that run succeeds), or delete the item to start again from the TTL`,
    );
  }
  return ms;
}

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
