/**
 * Promotion events. The core depends on the {@link EventPublisher} port only; the Lambda wires the
 * EventBridge adapter (`lib/adapters/eventbridge/promotion-events.ts`), tests wire
 * {@link RecordingPublisher} (EventBridge has no local engine).
 */

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
  /**
   * The version's `mlops.artifact_sha256` tag, when it has one: the model server refuses an
   * artifact with another digest.
   */
  readonly artifactSha256?: string;
  /** The version's `mlops.artifact_version_id` tag: the S3 object version the server reads. */
  readonly artifactVersionId?: string;
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
