/**
 * Materialization's plan step, called by the state machine first: validates the execution input
 * `{start?, end?, featureView?}`, reads each view's recorded window from the online table, and
 * renders each view's UNLOAD over the platform's feature repo (`lib/features/wine.ts`); see
 * `planMaterialization` in lib/features/stack-support.ts.
 *
 * Input:  { "input": <execution input>, "executionStartTime": "$$.Execution.StartTime",
 *           "execution": "$$.Execution.Name", "database": "<lake db>", "unloadLocation": "s3://<curated>/materialize/unload/" }
 * Output: { start, end, views: [{ featureView, start, end, from, unloadLocation, unloadBucket, unloadPrefix, unload: { head, tail, location } }], upToDate }
 * Errors: InvalidMaterializationInput, InvalidMaterializationState (the state machine fails with
 *   them, naming the problem)
 *
 * Environment:
 *   ONLINE_TABLE_NAME  the online table (BatchGetItem of the MATERIALIZATION# records)
 */
import { z } from 'zod';
import { dynamoDocumentClient } from '../lib/adapters/dynamodb/document-client';
import { DynamoDbOnlineStore } from '../lib/adapters/dynamodb/online-store';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import {
  DATABASE_NAME,
  InvalidMaterializationInput,
  type MaterializationPlan,
  parseMaterializationInput,
  planMaterialization,
} from '../lib/features/stack-support';
import { wineRepo } from '../lib/features/wine';
import { parseEvent } from '../lib/shared/events';

const env = handlerEnv({ ONLINE_TABLE_NAME: required });
const store = new DynamoDbOnlineStore({ client: dynamoDocumentClient(env), tableName: env.ONLINE_TABLE_NAME });

/** What the state machine passes the plan step. */
const planEventSchema = z.object({
  /** The execution's input, as given. */
  input: z.unknown(),
  /** `$$.Execution.StartTime`: the default window end. */
  executionStartTime: z.string(),
  /** `$$.Execution.Name`: names the run's UNLOAD prefix. */
  execution: z.string(),
  /** The lake's Glue database (a constant in the definition). */
  database: z.string().regex(DATABASE_NAME),
  /** Where runs UNLOAD (a constant in the definition). */
  unloadLocation: z.string().max(1024),
});

/**
 * The plan step's Lambda handler: `{input, executionStartTime, execution, database, unloadLocation}`
 * → a {@link MaterializationPlan} over the wine repo, from each view's recorded window.
 */
export const handler = async (event: unknown): Promise<MaterializationPlan> => {
  const e = parseEvent(planEventSchema, event, 'Plan', InvalidMaterializationInput);
  const now = new Date(e.executionStartTime);
  if (Number.isNaN(now.getTime())) {
    throw new InvalidMaterializationInput(
      `executionStartTime must be a timestamp, but '${e.executionStartTime}' was provided`,
    );
  }
  // Bad input fails before any read; only the requested view's record is read (an unknown view
  // reads nothing and the plan names the views there are).
  const { featureView } = parseMaterializationInput(e.input);
  const views = [...wineRepo.featureViews.keys()];
  const recorded = await store.recordedWindows(featureView === undefined ? views : views.filter((v) => v === featureView));
  return planMaterialization(wineRepo, e.input, {
    database: e.database,
    now,
    execution: e.execution,
    unloadLocation: e.unloadLocation,
    recorded,
  });
};
