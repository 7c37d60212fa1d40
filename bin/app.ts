/**
 * The CDK app: one `MlopsStage` per environment.
 *
 *   npx cdk synth                      # all three environments
 *   npx cdk synth -c env=staging       # one
 *   npx cdk deploy -c env=staging --all
 */
import { App, Errors } from 'aws-cdk-lib';
import { ConfigError, resolveEnvironments } from '../lib/config';
import { createMlopsApp } from '../stacks/mlops-app';

// Context from `-c key=value` and cdk.json arrives through CDK_CONTEXT_JSON; read it with a bare App.
const contextApp = new App({ autoSynth: false });
const context = (key: string): unknown => contextApp.node.tryGetContext(key);
let app: App;
try {
  const configs = resolveEnvironments(context('env'), {
    context: Object.fromEntries(
      ['staging:account', 'staging:region', 'production:account', 'production:region', 'local:region'].map(
        (k) => [k, context(k)],
      ),
    ),
    env: process.env,
  });
  app = createMlopsApp({ configs, nag: context('nag') !== 'false' && context('nag') !== false });
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
try {
  app.synth();
} catch (err) {
  // The deploy preflight (and any other construct validation) fails with sentences for the user;
  // a stack trace through the CDK's internals would only bury them.
  if (Errors.isValidationError(err)) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
