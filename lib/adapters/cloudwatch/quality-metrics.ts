/**
 * The model-quality ports on AWS: metrics as Embedded Metric Format lines (Powertools Metrics, one
 * EMF document per dimension set, flushed by the handler), events by `PutEvents` on the platform bus.
 *
 * @example
 * const metrics = emfQualityMetrics(new Metrics({ namespace: METRIC_NAMESPACES.quality }));
 */
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type {
  QualityBelowThresholdDetail,
  QualityEventsPort,
  QualityMetric,
  QualityMetricsPort,
} from '../../quality';
import { QUALITY_EVENT, QUALITY_METRICS } from '../../shared/operations';

const NAMES: Record<QualityMetric, string> = {
  rmse: QUALITY_METRICS.rmse,
  mae: QUALITY_METRICS.mae,
  r2: QUALITY_METRICS.r2,
  labeled: QUALITY_METRICS.labeled,
};

export function emfQualityMetrics(metrics: Metrics): QualityMetricsPort {
  return {
    publish(model, version, values) {
      // One document per dimension set: single-metric documents carry their own dimensions.
      for (const [key, value] of Object.entries(values) as [QualityMetric, number][]) {
        const one = metrics.singleMetric();
        // Powertools adds a `service` dimension by default; the alarms and the dashboard read
        // exactly {Model} and {Model, ModelVersion}, and a metric's identity is its dimension set.
        one.clearDefaultDimensions();
        one.addDimension('Model', model);
        if (version !== undefined) one.addDimension('ModelVersion', version);
        one.addMetric(NAMES[key], key === 'labeled' ? MetricUnit.Count : MetricUnit.NoUnit, value);
      }
    },
  };
}

export function eventBridgeQualityEvents(client: EventBridgeClient, busName: string): QualityEventsPort {
  return {
    async put(details: readonly QualityBelowThresholdDetail[]) {
      for (let i = 0; i < details.length; i += 10) {
        const out = await client.send(
          new PutEventsCommand({
            Entries: details.slice(i, i + 10).map((d) => ({
              EventBusName: busName,
              Source: QUALITY_EVENT.source,
              DetailType: QUALITY_EVENT.detailType,
              Detail: JSON.stringify(d),
            })),
          }),
        );
        if ((out.FailedEntryCount ?? 0) > 0) {
          throw new Error(`EventBridge rejected ${out.FailedEntryCount} model-quality event(s)`);
        }
      }
    },
  };
}
