/**
 * The registry's promotion events on an EventBridge bus: the {@link EventPublisher} port of
 * `lib/registry/events.ts` as PutEvents calls.
 */
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  type EventPublisher,
  type ModelVersionPromoted,
  PROMOTION_DETAIL_TYPE,
  PROMOTION_EVENT_SOURCE,
} from '../../registry/events';

/**
 * Publishes to an EventBridge bus, source `mlops-kit.registry`, detail-type `ModelVersionPromoted`.
 *
 * @example
 * const publisher = new EventBridgePublisher(new EventBridgeClient({}), process.env.EVENT_BUS_NAME!);
 */
export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(events: readonly ModelVersionPromoted[]): Promise<void> {
    // PutEvents takes at most 10 entries per call.
    for (let i = 0; i < events.length; i += 10) {
      const batch = events.slice(i, i + 10);
      const out = await this.client.send(
        new PutEventsCommand({
          Entries: batch.map((detail) => ({
            EventBusName: this.busName,
            Source: PROMOTION_EVENT_SOURCE,
            DetailType: PROMOTION_DETAIL_TYPE,
            Detail: JSON.stringify(detail),
            Time: new Date(detail.timestamp),
          })),
        }),
      );
      // PutEvents reports per-entry failures in a 200 response; treat any as a failed publish so the
      // event stays in the outbox and is sent again.
      if ((out.FailedEntryCount ?? 0) > 0) {
        const reasons = (out.Entries ?? [])
          .filter((e) => e.ErrorCode)
          .map((e) => `${e.ErrorCode}: ${e.ErrorMessage}`);
        throw new Error(
          `EventBridge rejected ${out.FailedEntryCount} promotion event(s): ${reasons.join('; ')}`,
        );
      }
    }
  }
}
