/**
 * The CDK app of `-c env=delivery`: the delivery stack alone (its pipeline carries the staging and
 * production stages it deploys). `bin/app.ts` builds it; tests build it with a config of their own.
 *
 * @example
 * createDeliveryApp({ delivery: resolveDelivery() }).synth();
 */
import { App, Validations } from 'aws-cdk-lib';
import { type DeliveryConfig, FEATURE_FLAGS } from '../lib/config';
import { deliveryNagPlugins } from '../lib/constructs/nag';
import { useValidationCache } from '../lib/constructs/validation-cache';
import { DELIVERY_STACK_ID, DeliveryStack } from './delivery-stack';
import { FAIL_ON_FINDINGS } from './mlops-app';

export interface CreateDeliveryAppOptions {
  readonly delivery: DeliveryConfig;
  /** @default true */
  readonly nag?: boolean;
  /** @default - the CDK default (CDK_OUTDIR or a temp dir) */
  readonly outdir?: string;
}

export function createDeliveryApp(options: CreateDeliveryAppOptions): { app: App; stack: DeliveryStack } {
  useValidationCache();
  const app = new App({
    outdir: options.outdir,
    context: { ...FEATURE_FLAGS, 'aws:cdk:enable-path-metadata': true },
    postCliContext: FAIL_ON_FINDINGS,
  });
  const stack = new DeliveryStack(app, DELIVERY_STACK_ID, { delivery: options.delivery, nag: options.nag });
  if (options.nag ?? true) Validations.of(stack).addPlugins(...deliveryNagPlugins(stack));
  return { app, stack };
}
