/** Serving: deployments, traffic, live metrics, try it. */
import { EmptyState } from '../ui';
import type { PageProps } from './types';

export function ServingPage(_props: PageProps) {
  return (
    <section>
      <h1>Serving</h1>
      <EmptyState title="Loading…" />
    </section>
  );
}
