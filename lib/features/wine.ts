/**
 * The platform's example feature repo: the UCI red wine data (lib/datasets/winequality-red.csv),
 * one row per wine identified by `wine_id`, the 11 physico-chemical measurements as features.
 *
 * @example
 * import { wineRepo } from './wine';
 * const server = createFeatureServer({ repo: wineRepo, store, offline });
 * await server.getOnlineFeatures({ feature_service: 'wine_quality_v1', entities: { wine_id: [1] } });
 */
import { WINE_FEATURES } from '../datasets/wine';
import { defineRepo } from './definitions';
import type { Entity, FeatureService, FeatureView, PushSource } from './types';

/**
 * The wine features in the order of the dataset's columns (and of the model's coefficients),
 * from the data set's own column list.
 */
export const WINE_FEATURE_NAMES = WINE_FEATURES;

export const wineEntity: Entity = {
  name: 'wine',
  joinKey: 'wine_id',
  valueType: 'INT64',
  description: 'One wine sample (row number in the source dataset).',
};

export const winePush: PushSource = {
  name: 'wine_push',
  batchSource: {
    database: 'features',
    table: 'wine_features_push',
    location: 'wine_features_push',
    format: 'json',
    timestampField: 'event_timestamp',
    createdTimestampColumn: 'created',
  },
};

export const wineFeatures: FeatureView = {
  name: 'wine_features',
  entities: ['wine'],
  features: WINE_FEATURE_NAMES.map((name) => ({ name, dtype: 'FLOAT' as const })),
  // Lab measurements are re-taken yearly; a value older than that should not feed a prediction.
  ttlSeconds: 365 * 86_400,
  source: {
    database: 'features',
    table: 'wine_features',
    location: 'wine_features',
    format: 'parquet',
    timestampField: 'event_timestamp',
    createdTimestampColumn: 'created',
  },
  pushSource: 'wine_push',
  description: 'Physico-chemical measurements of a red wine sample.',
};

export const wineQualityV1: FeatureService = {
  name: 'wine_quality_v1',
  projections: [{ featureView: 'wine_features' }],
  description: 'The inputs of the wine quality regression model, version 1.',
};

/** The validated wine repo the platform's feature server and materialization use. */
export const wineRepo = defineRepo({
  project: 'mlops_kit',
  entities: [wineEntity],
  featureViews: [wineFeatures],
  pushSources: [winePush],
  featureServices: [wineQualityV1],
});
