/**
 * What the feature store stack's materialization workflow runs, and the lake naming the stack and
 * the workflow share:
 *
 * - {@link lakeRelation}: the definitions name a logical database (`features`); the platform has
 *   one Glue database per environment (`config.dataLake.glueDatabaseName`), so the stack registers
 *   every offline table there and the SQL names `"<lake database>"."<table>"`.
 * - {@link planMaterialization}: validates a workflow input `{start?, end?, featureView?}`,
 *   defaults the window and renders each view's `materializationSql` (pure).
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
 * });
 * plan.views[0]?.sql; // SELECT … FROM "mlops_local"."wine_features" …
 */
import { z } from 'zod';
import type { FeatureRepo, LakeTable } from './definitions';
import { ident, materializationSql, type RelationOf } from './retrieval';

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
  /** Window start, inclusive. @default - the view's TTL before `end` (the epoch for views without one) */
  start: timestamp('start').optional(),
  /** Window end, exclusive. @default - the execution's start time */
  end: timestamp('end').optional(),
  /** One view to materialize. @default - every online view */
  featureView: z.string().min(1).optional(),
});

export type MaterializationInput = z.infer<typeof materializationInputSchema>;

/** One view's step of a plan: the Map state iterates over these. */
export interface PlannedView {
  readonly featureView: string;
  /** The lower bound the SQL applies: `max(start, end - ttl)`, ISO 8601 UTC. */
  readonly start: string;
  /** ISO 8601 UTC (`toISOString`), so records compare as strings in time order. */
  readonly end: string;
  readonly sql: string;
}

export interface MaterializationPlan {
  /** The requested start, or null when each view defaults to its TTL. */
  readonly start: string | null;
  readonly end: string;
  readonly views: readonly PlannedView[];
}

/**
 * Plans a materialization run: one query per view over `[start, end)`.
 *
 * Without `start`, each view's window reaches back its TTL from `end` (the epoch when it has none):
 * that is the oldest row `materializationSql` would still load, so the rolling window of a
 * scheduled run needs no state, a missed run is covered by the next one, and overlapping windows
 * are harmless because online writes are newer-wins.
 *
 * @throws InvalidMaterializationInput naming the bad value.
 * @example
 * planMaterialization(wineRepo, { start: '2024-01-01T00:00:00Z', end: '2024-01-02T00:00:00Z' },
 *   { database: 'mlops_staging', now: new Date() }).views.length; // 1
 */
export function planMaterialization(
  repo: FeatureRepo,
  input: unknown,
  context: { readonly database: string; readonly now: Date },
): MaterializationPlan {
  const parsed = materializationInputSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`);
    throw new InvalidMaterializationInput(`invalid materialization input: ${problems.join('; ')}`);
  }
  const { start, end, featureView } = parsed.data;
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
  return {
    start: startMs === undefined ? null : new Date(startMs).toISOString(),
    end: endIso,
    views: views.map((view) => {
      const from =
        view.ttlSeconds > 0
          ? Math.max(startMs ?? Number.NEGATIVE_INFINITY, endMs - view.ttlSeconds * 1000)
          : (startMs ?? 0);
      return {
        featureView: view.name,
        start: new Date(from).toISOString(),
        end: endIso,
        sql: materializationSql({
          repo,
          featureView: view.name,
          start: new Date(from),
          end: new Date(endMs),
          relationOf,
        }),
      };
    }),
  };
}
