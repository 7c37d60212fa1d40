/**
 * The CDK app: one `MlopsStage` per environment.
 *
 *   npx cdk synth                      # all three environments
 *   npx cdk synth -c env=staging       # one
 *   npx cdk deploy -c env=staging --all
 */
import { App } from 'aws-cdk-lib';
import { ConfigError, FEATURE_FLAGS, resolveEnvironments } from '../lib/config';
import { MlopsStage, stageId } from '../stacks/mlops-stage';

const app = new App({ context: FEATURE_FLAGS });
try {
  const context = app.node.tryGetContext.bind(app.node);
  const configs = resolveEnvironments(context('env'), {
    context: {
      'staging:account': context('staging:account'),
      'staging:region': context('staging:region'),
      'production:account': context('production:account'),
      'production:region': context('production:region'),
      'local:region': context('local:region'),
    },
    env: process.env,
  });
  const nag = context('nag') !== 'false' && context('nag') !== false;
  for (const config of configs) new MlopsStage(app, stageId(config.name), { config, nag });
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
app.synth();
