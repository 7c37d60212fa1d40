/** The retry loop every optimistic write of the cores goes through. */
import { MlflowError } from './errors';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` until it returns a value; `undefined` means "lost a race, read again and retry".
 * `backoff: false` is for attempts that pace themselves.
 * Backoff is full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): contenders spread
 * out instead of colliding again in lockstep.
 */
export async function retryOnConflict<T>(
  attempt: () => Promise<T | undefined>,
  what: string,
  options: { maxAttempts?: number; backoff?: boolean } = {},
): Promise<T> {
  const { maxAttempts = 60, backoff = true } = options;
  for (let i = 0; i < maxAttempts; i++) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (backoff) await sleep(Math.random() * Math.min(1000, 10 * 2 ** Math.min(i, 7)));
  }
  // Contention this long means the caller should retry later, which is what 409/ABORTED tells it.
  throw new MlflowError('RESOURCE_CONFLICT', `Too much concurrent modification of ${what}; try again.`);
}
