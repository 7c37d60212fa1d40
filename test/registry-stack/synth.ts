/**
 * Test helper: each environment's data lake and registry stacks in a stage of their own, built as
 * `MlopsStage` builds its stacks (tagged, env from config), synthesized once per test file. Nag
 * runs in the tests, so findings are reported rather than failing synthesis.
 */
import { ENVIRONMENT_NAMES } from '../../lib/config';
import { RegistryStack } from '../../stacks/registry-stack';
import { stackOnLake, synthStack } from '../stack-synth';

/** One environment's stage, with the data lake and the registry stack under test. */
export const buildStage = stackOnLake(RegistryStack, 'Registry');

export const synthRegistry = synthStack(buildStage, ENVIRONMENT_NAMES);
