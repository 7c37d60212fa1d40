/**
 * The CDK app: one `MlopsStage` per environment.
 *
 *   npx cdk synth                      # all three environments
 *   npx cdk synth -c env=staging       # one
 *   npx cdk deploy -c env=staging --all
 *   npx cdk synth -c env=delivery      # the delivery pipeline (tooling account), see README "Delivery"
 */
import type { App as CdkApp } from 'aws-cdk-lib';
import { defaultBundleCache } from '../lib/constructs/bundle-cache';
import { startValidationWorker, validationCacheIsEmpty } from '../lib/constructs/validation-worker';

// When templates are likely new (a first synthesis, or sources changed since the compiled app was
// built: bin/app.mjs says so), CloudFormation validation's engine starts now on a worker thread, on
// the second core, instead of after the templates are written; findings still come from the
// validation cache where it has them, and a synthesis that validates nothing stops the worker.
if ((globalThis as { mlopsKitAppBuilt?: boolean }).mlopsKitAppBuilt || validationCacheIsEmpty()) startValidationWorker();
// Handlers missing from the kit's cache are bundled by esbuild in its own process while this one
// loads aws-cdk-lib and the stacks and builds the tree (the two cores each do one): a function whose
// bundle is not built yet gets its code when bindPendingBundles() has it, before synthesis. On a warm
// cache nothing is built.
const bundled = defaultBundleCache().prefetch();
// Its failure is thrown by bindPendingBundles(), or below when no function waited for it.
bundled.catch(() => undefined);
const { App, Errors } = await import('aws-cdk-lib');
const { ConfigError, DELIVERY, DELIVERY_CONTEXT_KEYS, resolveDelivery, resolveEnvironments } = await import('../lib/config');
const { createDeliveryApp } = await import('../stacks/delivery-app');
const { createMlopsApp } = await import('../stacks/mlops-app');
const { bindPendingBundles } = await import('../lib/constructs/mlops-function');

// Context from `-c key=value` and cdk.json arrives through CDK_CONTEXT_JSON; read it with a bare App.
const contextApp = new App({ autoSynth: false });
const context = (key: string): unknown => contextApp.node.tryGetContext(key);
const ENVIRONMENT_CONTEXT_KEYS = ['staging:account', 'staging:region', 'production:account', 'production:region', 'local:region'];
const contextOf = (keys: readonly string[]) => Object.fromEntries(keys.map((k) => [k, context(k)]));
const nag = context('nag') !== 'false' && context('nag') !== false;
// CDK Pipelines synthesizes each stage as the delivery pipeline adds it: its bundles come first.
if (context('env') === DELIVERY) await bundled;
let app: CdkApp;
try {
  app =
    context('env') === DELIVERY
      ? createDeliveryApp({
          delivery: resolveDelivery({ context: contextOf([...ENVIRONMENT_CONTEXT_KEYS, ...DELIVERY_CONTEXT_KEYS]), env: process.env }),
          nag,
        }).app
      : createMlopsApp({
          configs: resolveEnvironments(context('env'), { context: contextOf(ENVIRONMENT_CONTEXT_KEYS), env: process.env }),
          nag,
        });
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}
await bindPendingBundles();
await bundled;
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
