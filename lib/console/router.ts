/**
 * A hash router: `#/<page>/<segment>/…?<query>`. The hash keeps the console one static file set
 * (no server-side routes to configure where it is hosted) and makes every view a link.
 */
import { signal } from '@preact/signals';

export interface Route {
  /** The page id (`pipelines`, `serving`, …); '' for the landing page. */
  readonly page: string;
  /** The path segments after the page id, decoded. */
  readonly path: readonly string[];
  readonly query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const h = hash.replace(/^#\/?/, '');
  const q = h.indexOf('?');
  const path = (q === -1 ? h : h.slice(0, q))
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return { page: path[0] ?? '', path: path.slice(1), query: new URLSearchParams(q === -1 ? '' : h.slice(q + 1)) };
}

/** The current route; pages re-render when it changes. */
export const route = signal<Route>(parseHash(typeof location === 'undefined' ? '' : location.hash));

if (typeof window !== 'undefined') {
  window.addEventListener('hashchange', () => {
    route.value = parseHash(location.hash);
  });
}

/** The link to a page and path: `href('pipelines', arn)` → `#/pipelines/arn%3A…`. */
export function href(page: string, ...path: string[]): string {
  return `#/${[page, ...path].map(encodeURIComponent).join('/')}`;
}

/** `href` with a query string. */
export function hrefWithQuery(page: string, path: readonly string[], query: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, v);
  const qs = q.toString();
  return `${href(page, ...path)}${qs ? `?${qs}` : ''}`;
}

export function navigate(to: string): void {
  location.hash = to.replace(/^#/, '');
}
