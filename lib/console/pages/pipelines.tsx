/** Pipelines: every state machine, its executions, an execution's graph. */
import { EmptyState } from '../ui';
import type { PageProps } from './types';

export function PipelinesPage(_props: PageProps) {
  return (
    <section>
      <h1>Pipelines</h1>
      <EmptyState title="Loading…" />
    </section>
  );
}
