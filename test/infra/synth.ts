/**
 * Test helper: synthesizes every environment's stage once per test file (nag is run by the nag
 * test itself, so it can report findings instead of failing synthesis).
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENT_NAMES, type EnvironmentName, FEATURE_FLAGS, resolveEnvironment } from '../../lib/config';
import { MlopsStage, stageId } from '../../stacks/mlops-stage';

export interface SynthesizedEnvironment {
  readonly stage: MlopsStage;
  readonly templates: Record<string, Template>;
}

let cache: Record<EnvironmentName, SynthesizedEnvironment> | undefined;

export function synthAll(): Record<EnvironmentName, SynthesizedEnvironment> {
  if (cache) return cache;
  const app = new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:enable-path-metadata': true } });
  const out = {} as Record<EnvironmentName, SynthesizedEnvironment>;
  for (const name of ENVIRONMENT_NAMES) {
    const stage = new MlopsStage(app, stageId(name), { config: resolveEnvironment(name), nag: false });
    out[name] = { stage, templates: {} };
  }
  app.synth();
  for (const name of ENVIRONMENT_NAMES) {
    const { stage } = out[name];
    for (const stack of stage.node.children) {
      if ('templateOptions' in stack) {
        out[name].templates[stack.node.id] = Template.fromStack(stack as never);
      }
    }
  }
  cache = out;
  return out;
}
