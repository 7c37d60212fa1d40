import { ApiError } from '../api/http';

/** An error from the platform, in its own words: the protocol's code and message. */
export function ErrorBanner({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const e = error as Error;
  const code = error instanceof ApiError ? error.code : undefined;
  return (
    <div class="error-banner" role="alert">
      {title ? <strong>{title}: </strong> : null}
      {code ? <code class="error-code">{code}</code> : null} <span class="error-message">{e.message ?? String(error)}</span>
    </div>
  );
}
