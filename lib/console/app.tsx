/**
 * The console's layout: a skip link, the header with the nav (one link per registered page,
 * `aria-current` on the open one), and the open page in `<main>`.
 */
import { useEffect } from 'preact/hooks';
import { LANDING_PAGE, PAGES } from './pages';
import { href, route } from './router';
import { EmptyState } from './ui';

export function App() {
  const r = route.value;
  const id = r.page || LANDING_PAGE;
  const page = PAGES.find((p) => p.id === id);
  useEffect(() => {
    document.title = `${page?.title ?? 'Not found'} · mlops-kit console`;
  }, [page]);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href(LANDING_PAGE)}>mlops-kit</a>
        <nav aria-label="Console">
          <ul>
            {PAGES.map((p) => (
              <li key={p.id}>
                <a href={href(p.id)} aria-current={p.id === id ? 'page' : undefined}>{p.title}</a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {page ? (
          <page.component key={page.id} path={r.path} query={r.query} />
        ) : (
          <section>
            <h1>Not found</h1>
            <EmptyState title={`There is no page "${id}".`}>
              <a href={href(LANDING_PAGE)}>Open the console's first page</a>
            </EmptyState>
          </section>
        )}
      </main>
    </>
  );
}
