/** An execution's or a state's status as a badge: a word and a colour, never colour alone. */

const TONES: Record<string, string> = {
  SUCCEEDED: 'ok',
  READY: 'ok',
  PRESENT: 'ok',
  RUNNING: 'info',
  PENDING: 'info',
  FAILED: 'bad',
  TIMED_OUT: 'bad',
  ABORTED: 'warn',
  CAUGHT: 'warn',
  NOT_FOUND: 'warn',
  OUTSIDE_MAX_AGE: 'warn',
  NOT_RUN: 'muted',
};

export function statusTone(status: string): string {
  return TONES[status] ?? 'muted';
}

export function StatusBadge({ status, label }: { status: string; label?: string }) {
  return (
    <span class={`badge badge-${statusTone(status)}`} data-status={status}>
      {label ?? status.replace(/_/g, ' ').toLowerCase()}
    </span>
  );
}
