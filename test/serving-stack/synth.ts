/**
 * Test helper: a stage per AWS environment holding the data lake and the serving stack, built as
 * `MlopsStage` builds its stacks (tagged, env from config), synthesized once per test file, offline
 * (placeholder account and region, no Docker: the image asset only builds at deploy time). Local
 * has no serving stack worth synthesizing (see `servingRunsOnEks`).
 */
import { ServingStack } from '../../stacks/serving-stack';
import { stackOnLake, synthStack } from '../stack-synth';

/** The environments that run serving on EKS. */
export const AWS_ENVIRONMENTS = ['staging', 'production'] as const;
export type AwsEnvironment = (typeof AWS_ENVIRONMENTS)[number];

/** One environment's stage, with the data lake and the serving stack under test. */
export const buildStage = stackOnLake(ServingStack, 'Serving');

export const synthServing = synthStack(buildStage, AWS_ENVIRONMENTS);
