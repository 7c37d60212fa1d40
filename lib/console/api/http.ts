/**
 * The console's one way to call the platform: `fetch`, JSON in and out, and every failure turned
 * into an {@link ApiError} carrying the code and message in the shape the protocol answered with
 * (MLflow `error_code`, AWS JSON `__type`, Feast `detail`, Seldon `status`, OIP `error`, S3's XML
 * `<Error>`, API Gateway's `message`), so a page shows the platform's own sentence.
 *
 * @example
 * const body = await requestJson<{ registered_models?: unknown[] }>('/api/2.0/mlflow/registered-models/search', {}, 'mlflow');
 */

/** The protocols the console speaks; each has its own error shape. */
export type Protocol = 'mlflow' | 'aws' | 'feast' | 'seldon' | 'oip' | 's3' | 'gateway';

/** A request the platform refused or could not answer. */
export class ApiError extends Error {
  constructor(
    readonly protocol: Protocol,
    /** HTTP status; 0 when no answer came (network error, CORS refusal). */
    readonly status: number,
    /** The protocol's error code (`RESOURCE_DOES_NOT_EXIST`, `ValidationException`, …) or `HTTP <status>`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The code and message of an error body, read the way its protocol writes them. */
export function errorFromBody(protocol: Protocol, status: number, text: string): ApiError {
  const fallback = `HTTP ${status}`;
  if (protocol === 's3') {
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
    const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
    return new ApiError(protocol, status, code ?? fallback, message ?? (text || fallback));
  }
  let body: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  if (!body) return new ApiError(protocol, status, fallback, text.trim() || fallback);
  const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined ? undefined : JSON.stringify(v));
  switch (protocol) {
    case 'mlflow':
      return new ApiError(protocol, status, str(body['error_code']) ?? fallback, str(body['message']) ?? text);
    case 'aws': {
      // `__type` may carry a namespace: `com.amazonaws.states#ValidationException`.
      const type = str(body['__type'])?.split('#').pop();
      const message = str(body['message']) ?? str(body['Message']) ?? text;
      return new ApiError(protocol, status, type ?? fallback, message);
    }
    case 'feast':
      return new ApiError(protocol, status, fallback, str(body['detail']) ?? str(body['message']) ?? text);
    case 'seldon': {
      const s = body['status'] as Record<string, unknown> | undefined;
      return new ApiError(protocol, status, str(s?.['reason']) ?? fallback, str(s?.['info']) ?? str(body['message']) ?? text);
    }
    case 'oip':
      return new ApiError(protocol, status, fallback, str(body['error']) ?? str(body['message']) ?? text);
    default:
      return new ApiError(protocol, status, fallback, str(body['message']) ?? text);
  }
}

/** Sends a request and returns the response text; a non-2xx answer or no answer throws {@link ApiError}. */
export async function requestText(url: string, init: RequestInit, protocol: Protocol): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new ApiError(protocol, 0, 'NetworkError', `${url} could not be reached (${(e as Error).message})`);
  }
  const text = await res.text();
  if (!res.ok) throw errorFromBody(protocol, res.status, text);
  return text;
}

/** {@link requestText}, parsed as JSON (an empty body is `{}`). */
export async function requestJson<T>(url: string, init: RequestInit, protocol: Protocol): Promise<T> {
  const text = await requestText(url, init, protocol);
  if (text.trim() === '') return {} as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(protocol, 200, 'InvalidResponse', `${url} answered something that is not JSON`);
  }
}

/** A JSON POST. */
export function postJson<T>(url: string, body: unknown, protocol: Protocol, headers: Record<string, string> = {}): Promise<T> {
  return requestJson<T>(
    url,
    { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) },
    protocol,
  );
}
