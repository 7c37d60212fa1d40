/**
 * The registry's scheduled outbox flush: re-sends every promotion event a failed PutEvents left in a
 * model's outbox (`ModelRegistry.flushAllPendingEvents`), so a promotion nobody touches again still
 * deploys. An EventBridge Scheduler schedule invokes it (`RegistryStack`); locally `mlops up` runs
 * the same schedule. Idempotent: a flushed event leaves the outbox, and two concurrent flushes of a
 * model never both publish (see `lib/registry/models/outbox.ts`).
 *
 * Environment: `REGISTRY_TABLE_NAME`, `EVENT_BUS_NAME` (as the registry function's).
 * Event: ignored (the schedule's input); returns `{ sent: { <model>: <events> } }`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { dynamoDbClient, eventBridgeClient } from '../lib/adapters/clients';
import { DynamoRegistryStore } from '../lib/adapters/dynamodb/registry-store';
import { EventBridgePublisher } from '../lib/adapters/eventbridge/promotion-events';
import { handlerEnv, required } from '../lib/adapters/handler-env';
import { ModelRegistry, OUTBOX_RETRY_AFTER_MS } from '../lib/registry';

const env = handlerEnv({ REGISTRY_TABLE_NAME: required, EVENT_BUS_NAME: required });
const logger = new Logger({ serviceName: 'registry-outbox' });
const registry = new ModelRegistry({
  store: new DynamoRegistryStore(dynamoDbClient(env), env.REGISTRY_TABLE_NAME),
  events: new EventBridgePublisher(eventBridgeClient(env), env.EVENT_BUS_NAME),
  logger: {
    warn: (message, attributes) => logger.warn(message, attributes),
    error: (message, attributes) => logger.error(message, attributes),
  },
});

/** Events younger than the write path's own retry age may still be in flight from that write. */
export const handler = async (): Promise<{ sent: Record<string, number> }> => {
  const sent = await registry.flushAllPendingEvents(OUTBOX_RETRY_AFTER_MS);
  if (Object.keys(sent).length > 0) logger.info('Re-sent pending promotion events', { sent });
  return { sent };
};
