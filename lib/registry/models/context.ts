/** What every part of the model registry works with: its ports, resolved once by `ModelRegistry`. */
import type { EventPublisher } from '../events';
import type { RecordStore } from '../store';

/** What the registry logs through; the Lambda passes its powertools logger. */
export interface RegistryLogger {
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

export interface RegistryContext {
  readonly store: RecordStore;
  readonly events: EventPublisher;
  readonly logger?: RegistryLogger;
  /** Epoch ms. */
  readonly now: () => number;
  /** A fresh unique id (model ids, event ids, claim owners). */
  readonly newId: () => string;
  readonly resolveRunsUri?: (runId: string, path: string) => Promise<string | undefined>;
  /** Aliases whose move is a promotion event. */
  readonly promotionAliases: readonly string[];
}
