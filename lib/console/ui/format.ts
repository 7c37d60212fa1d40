/** Durations and times as the console prints them. */

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Epoch seconds (the AWS JSON protocols) or ms → a local date and time. */
export function formatTime(epoch: number | undefined, unit: 's' | 'ms' = 's'): string {
  if (epoch === undefined || !Number.isFinite(epoch)) return '–';
  return new Date(unit === 's' ? epoch * 1000 : epoch).toLocaleString();
}

/** The last part of an ARN (`…:execution:machine:name` → `name`). */
export function arnName(arn: string): string {
  return arn.split(':').pop() ?? arn;
}
