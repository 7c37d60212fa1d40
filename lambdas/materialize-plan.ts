/**
 * Materialization's plan step, called by the state machine first: validates the execution input
 * `{start?, end?, featureView?}`, defaults the window and renders each view's materialization SQL
 * over the platform's feature repo (`lib/features/wine.ts`); see `planMaterialization` in
 * lib/features/stack-support.ts.
 *
 * Input:  { "input": <execution input>, "executionStartTime": "$$.Execution.StartTime", "database": "<lake db>" }
 * Output: { start, end, views: [{ featureView, start, end, sql }] }
 * Errors: InvalidMaterializationInput (the state machine fails with it, naming the problem)
 */
import { z } from 'zod';
import {
  DATABASE_NAME,
  InvalidMaterializationInput,
  type MaterializationPlan,
  planMaterialization,
} from '../lib/features/stack-support';
import { wineRepo } from '../lib/features/wine';
import { parseEvent } from '../lib/shared/events';

/** What the state machine passes the plan step. */
const planEventSchema = z.object({
  /** The execution's input, as given. */
  input: z.unknown(),
  /** `$$.Execution.StartTime`: the default window end. */
  executionStartTime: z.string(),
  /** The lake's Glue database (a constant in the definition). */
  database: z.string().regex(DATABASE_NAME),
});

/**
 * The plan step's Lambda handler: `{input, executionStartTime, database}` → a
 * {@link MaterializationPlan} over the wine repo.
 */
export const handler = async (event: unknown): Promise<MaterializationPlan> => {
  const e = parseEvent(planEventSchema, event, 'Plan', InvalidMaterializationInput);
  const now = new Date(e.executionStartTime);
  if (Number.isNaN(now.getTime())) {
    throw new InvalidMaterializationInput(
      `executionStartTime must be a timestamp, but '${e.executionStartTime}' was provided`,
    );
  }
  return planMaterialization(wineRepo, e.input, { database: e.database, now });
};
