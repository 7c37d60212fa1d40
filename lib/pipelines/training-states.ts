/**
 * The training pipeline's state names (as the console shows them, and tests, the local runtime's
 * recovery and overrides refer to them) and the input scheduled runs start with.
 */
import { WINE_RAW_TABLE, WINE_TARGET } from '../datasets/wine';

export const TRAINING_STATES = {
  validate: 'Validate data',
  features: 'Build features',
  exportTrain: 'Export training split',
  exportHoldout: 'Export holdout split',
  stage: 'Stage training data',
  train: 'Train model',
  evaluate: 'Evaluate model',
  gate: 'Passes the gate?',
  baselineCounts: 'Count training values',
  baseline: 'Write baseline',
  register: 'Register model',
  rollback: 'Roll back registration',
  recordSuccess: 'Record success',
  notifySuccess: 'Notify success',
  succeeded: 'Model registered',
  recordRejection: 'Record rejection',
  notifyRejection: 'Notify rejection',
  rejected: 'Model rejected',
  recordFailure: 'Record failure',
  notifyFailure: 'Notify failure',
  failed: 'Pipeline failed',
} as const;

/** The example: the red-wine table, target `quality`, model `wine-quality`. */
export const DEFAULT_SCHEDULED_INPUT = {
  dataset: WINE_RAW_TABLE,
  target: WINE_TARGET,
  model_name: 'wine-quality',
  hyperparameters: { alpha: 0.1, l1_ratio: 0.5 },
  thresholds: { max_rmse: 0.8 },
};
