/** The Models page (built in the console shell by the consolepages part of issue 17). */
import { EmptyState } from '../ui';
import type { PageProps } from './types';

export function ModelsPage(_props: PageProps) {
  return (
    <section>
      <h1>Models</h1>
      <EmptyState title="This page is not built yet." />
    </section>
  );
}
