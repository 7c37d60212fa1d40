/**
 * Test helper: each environment's data lake and feature store stacks in a stage of their own, built
 * as `MlopsStage` builds its stacks (tagged, env from config), synthesized once per test file. Nag
 * runs in the tests, so findings are reported rather than failing synthesis.
 */
import { ENVIRONMENT_NAMES } from '../../lib/config';
import { FeatureStoreStack } from '../../stacks/feature-store-stack';
import { stackOnLake, synthStack } from '../stack-synth';

/** One environment's stage, with the data lake and the feature store stack under test. */
export const buildStage = stackOnLake(FeatureStoreStack, 'FeatureStore');

export const synthFeatureStore = synthStack(buildStage, ENVIRONMENT_NAMES);
