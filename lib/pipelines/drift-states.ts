/**
 * The drift machine's state names (as the console shows them, and tests and `mlops drift` refer
 * to them), the request log's Glue table and the input scheduled runs start with.
 */

export const DRIFT_STATES = {
  resolve: 'Resolve window',
  aggregate: 'Aggregate window',
  compute: 'Compute report',
  gate: 'Dataset drift?',
  publish: 'Publish DriftDetected',
  detected: 'Drift detected',
  clean: 'No drift',
} as const;

export { REQUEST_LOG_TABLE } from '../serving/request-log';

/** The example: the wine model over the last day. */
export const DEFAULT_DRIFT_INPUT = { model: 'wine-quality' } as const;
