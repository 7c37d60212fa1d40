/**
 * Promotion events. The core depends on the {@link EventPublisher} port only; the Lambda wires
 * {@link EventBridgePublisher}, tests wire {@link RecordingPublisher} (EventBridge has no local engine).
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';

export const PROMOTION_EVENT_SOURCE = 'mlops-kit.registry';
export const PROMOTION_DETAIL_TYPE = 'ModelVersionPromoted';

/** The `detail` of a `ModelVersionPromoted` event. */
export interface ModelVersionPromoted {
  /** Unique per promotion; consumers dedupe on it (delivery is at least once). */
  readonly eventId: string;
  readonly modelName: string;
  readonly version: string;
  /** The version's `source` as registered. */
  readonly source: string;
  /** Where the artifacts can be downloaded (`get-download-uri`). */
  readonly artifactUri: string;
  /** Set when the version entered a stage (`Staging` or `Production`). */
  readonly stage?: string;
  /** Set when a promotion alias (`champion`) moved to the version. */
  readonly alias?: string;
  /** The version that held the stage or alias before, if any (the highest one for a stage). */
  readonly previousVersion: string | null;
  /** Epoch ms of the write that promoted the version. */
  readonly timestamp: number;
}

/** Where promotion events go. `publish` resolves only once every event has been accepted. */
export interface EventPublisher {
  publish(events: readonly ModelVersionPromoted[]): Promise<void>;
}

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

/**
 * Keeps published events in memory; can be told to fail, to exercise the outbox.
 *
 * @example
 * const events = new RecordingPublisher();
 * // … promote a version …
 * expect(events.published.map((e) => e.stage)).toEqual(['Production']);
 */
export class RecordingPublisher implements EventPublisher {
  readonly published: ModelVersionPromoted[] = [];
  /** While true, `publish` rejects without recording. */
  failing = false;

  async publish(events: readonly ModelVersionPromoted[]): Promise<void> {
    if (this.failing) throw new Error('publisher unavailable');
    this.published.push(...events);
  }
}

/** Builds the EventBridge publisher for a bus (the SDK honours `AWS_ENDPOINT_URL_EVENTBRIDGE`). */
export const eventBridgePublisher = (
  busName: string,
  client = new EventBridgeClient({}),
): EventBridgePublisher => new EventBridgePublisher(client, busName);
