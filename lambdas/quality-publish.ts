/**
 * Model quality, "Publish quality": reads the scoring query's rows (one per version, and one for
 * all), judges them against the thresholds, publishes `QUALITY_METRICS` as Embedded Metric Format
 * and puts `ModelQualityBelowThreshold` on the platform bus for each version below them. Returns
 * the report (the execution's output, what `mlops quality` prints).
 *
 * Environment: ENVIRONMENT_NAME, RMSE_MAX, MAE_MAX, R2_MIN, MIN_LABELED; EVENT_BUS_NAME (optional:
 * no events without it).
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { queryResultPages } from '../lib/adapters/athena/query-results';
import { athenaClient, eventBridgeClient } from '../lib/adapters/clients';
import { emfQualityMetrics, eventBridgeQualityEvents } from '../lib/adapters/cloudwatch/quality-metrics';
import { handlerEnv, optional, required } from '../lib/adapters/handler-env';
import { evaluateQuality, publishQuality, type QualityInput, type QualityRow } from '../lib/quality';
import { METRIC_NAMESPACES } from '../lib/shared/operations';

const env = handlerEnv({
  ENVIRONMENT_NAME: required,
  RMSE_MAX: z.coerce.number().positive(),
  MAE_MAX: z.coerce.number().positive(),
  R2_MIN: z.coerce.number().max(1),
  MIN_LABELED: z.coerce.number().int().min(1),
  EVENT_BUS_NAME: optional,
});
const athena = athenaClient(env);
const metrics = new Metrics({ namespace: METRIC_NAMESPACES.quality, serviceName: 'model-quality' });
const events =
  env.EVENT_BUS_NAME === undefined ? { put: async () => {} } : eventBridgeQualityEvents(eventBridgeClient(env), env.EVENT_BUS_NAME);
const thresholds = { rmseMax: env.RMSE_MAX, maeMax: env.MAE_MAX, r2Min: env.R2_MIN, minLabeled: env.MIN_LABELED };

export const handler = async (event: { plan: QualityInput; query_execution_id: string }) => {
  const rows: QualityRow[] = [];
  let header: string[] | undefined;
  for await (const page of queryResultPages(athena, event.query_execution_id)) {
    for (const r of page.Rows ?? []) {
      const cells = (r.Data ?? []).map((d) => d.VarCharValue);
      if (header === undefined) header = cells.map(String);
      else rows.push(Object.fromEntries(header.map((h, i) => [h, cells[i] ?? undefined])) as QualityRow);
    }
  }
  const report = evaluateQuality(event.plan, rows, thresholds);
  const published = await publishQuality(report, env.ENVIRONMENT_NAME, { metrics: emfQualityMetrics(metrics), events });
  return { ...report, events: published.events };
};
