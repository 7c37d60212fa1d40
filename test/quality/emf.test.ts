/**
 * The quality metrics as the publish function emits them: Embedded Metric Format documents
 * (Powertools Metrics), one per dimension set, in the quality namespace with QUALITY_METRICS names.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { emfQualityMetrics } from '../../lib/adapters/cloudwatch/quality-metrics';
import { METRIC_NAMESPACES } from '../../lib/shared/operations';

afterEach(() => vi.restoreAllMocks());

describe('EMF quality metrics', () => {
  it('writes one document per metric with exactly Model and ModelVersion (or Model alone) as dimensions, as the alarms read them', () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    vi.spyOn(console, 'log').mockImplementation((...a) => void lines.push(a.map(String).join(' ')));
    const port = emfQualityMetrics(new Metrics({ namespace: METRIC_NAMESPACES.quality, serviceName: 'model-quality' }));
    port.publish('wine-quality', '3', { labeled: 40, rmse: 0.61 });
    port.publish('wine-quality', undefined, { r2: 0.4 });
    const docs = lines
      .flatMap((l) => l.split('\n'))
      .filter((l) => l.includes('_aws'))
      .map((l) => JSON.parse(l));
    const summary = docs.map((d) => {
      const m = d._aws.CloudWatchMetrics[0];
      return [m.Namespace, m.Metrics[0].Name, m.Dimensions[0], d[m.Metrics[0].Name], d.ModelVersion];
    });
    expect(summary).toEqual([
      ['MlopsKit/ModelQuality', 'LabeledPredictions', ['Model', 'ModelVersion'], 40, '3'],
      ['MlopsKit/ModelQuality', 'RMSE', ['Model', 'ModelVersion'], 0.61, '3'],
      ['MlopsKit/ModelQuality', 'R2', ['Model'], 0.4, undefined],
    ]);
  });
});
