import type { FunctionComponent } from 'preact';

/** What the router hands a page: the hash path after the page id, and the query. */
export interface PageProps {
  readonly path: readonly string[];
  readonly query: URLSearchParams;
}

/** One page of the console, as registered in `pages/index.ts`. */
export interface PageModule {
  /** The first hash segment: `#/<id>/…`. */
  readonly id: string;
  /** The nav label and the document title. */
  readonly title: string;
  readonly component: FunctionComponent<PageProps>;
}
