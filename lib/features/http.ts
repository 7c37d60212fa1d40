/**
 * The feature server's HTTP adapter for API Gateway REST APIs (Lambda proxy integration, payload
 * format 1.0): routes, body decoding and limits, and the mapping of results and errors to Feast's
 * responses. It knows nothing of DynamoDB or S3; `lambdas/features.ts` wires it to real clients.
 *
 * | route                      | success                  |
 * |----------------------------|--------------------------|
 * | POST /get-online-features  | 200 JSON                 |
 * | POST /push                 | 200 empty body           |
 * | GET  /health               | 200 empty body           |
 * | GET  /api/v1/{projects,entities,feature_views,feature_services} | 200 JSON (Feast's registry REST, when `registry` is given; see registry-rest.ts) |
 *
 * Client mistakes never produce a 5xx: an empty, malformed or wrong-typed body is FastAPI's 422
 * `{"detail": […]}`, a body over 1 MB is 413 in the same shape, an unknown path is 404
 * `{"detail":"Not Found"}`, a wrong method 405 `{"detail":"Method Not Allowed"}` (FastAPI's
 * bodies). The two 500s Feast's conformance notes pin for semantic mistakes are kept (see serving.ts).
 */
import { FeatureServerError, RequestValidationError } from './errors';
import { type MaterializationLog, REGISTRY_PATHS, REGISTRY_PREFIX, registryListing } from './registry-rest';
import { getOnlineFeaturesRequestSchema, parseBody, pushRequestSchema } from './requests';
import type { FeatureRepo } from './types';
import type { FeatureServer } from './serving';

/** The largest request body accepted, in bytes (API Gateway's own limit is 10 MB). */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * What the handler reads of an API Gateway proxy event (payload 1.0): `aws-lambda`'s
 * `APIGatewayProxyEvent` is one, the local gateway's events are another.
 */
export interface ProxyEvent {
  readonly httpMethod: string;
  readonly path: string | null;
  readonly body: string | null;
  readonly isBase64Encoded: boolean;
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>> | null;
  readonly requestContext?: { readonly stage?: string } | null;
}

/** A proxy-integration response. */
export interface ProxyResult {
  statusCode: number;
  headers?: Record<string, string>;
  body: string;
}

/** A proxy-integration handler. */
export type ProxyHandler = (event: ProxyEvent) => Promise<ProxyResult>;

/** Options of `createFeatureHttpHandler`. */
export interface FeatureHttpOptions {
  /**
   * Called with every error that becomes a 5xx not pinned by Feast's semantics, for logging.
   * @default - errors are not reported
   */
  readonly onInternalError?: (err: unknown) => void;
  /**
   * Serve the read-only registry routes (`GET /api/v1/...`, Feast's registry REST shape) over this
   * repo, with each view's last materialization window from `log`.
   * @default - no registry routes (404)
   */
  readonly registry?: { readonly repo: FeatureRepo; readonly log?: MaterializationLog };
}

const JSON_HEADERS = { 'content-type': 'application/json' };

type Route = (body: unknown, event: ProxyEvent) => Promise<ProxyResult>;

/**
 * Builds the API Gateway handler of a feature server.
 *
 * @example
 * export const handler = createFeatureHttpHandler(createFeatureServer({ repo, store, offline }));
 */
export function createFeatureHttpHandler(
  server: FeatureServer,
  options: FeatureHttpOptions = {},
): ProxyHandler {
  const routes: Record<string, { method: string; needsBody: boolean; run: Route }> = {
    '/get-online-features': {
      method: 'POST',
      needsBody: true,
      run: async (body) => {
        const res = await server.getOnlineFeatures(parseBody(getOnlineFeaturesRequestSchema, body));
        return { statusCode: 200, headers: JSON_HEADERS, body: JSON.stringify(res) };
      },
    },
    '/push': {
      method: 'POST',
      needsBody: true,
      run: async (body) => {
        await server.push(parseBody(pushRequestSchema, body));
        return { statusCode: 200, body: '' };
      },
    },
    // The registry is code compiled into the function, so it is always reachable: Feast's health
    // check (list the registry's projects) cannot fail here.
    '/health': { method: 'GET', needsBody: false, run: async () => ({ statusCode: 200, body: '' }) },
  };
  const registry = options.registry;
  if (registry) {
    for (const path of REGISTRY_PATHS) {
      routes[`${REGISTRY_PREFIX}${path}`] = {
        method: 'GET',
        needsBody: false,
        run: async (_body, event) => ({
          statusCode: 200,
          headers: JSON_HEADERS,
          body: JSON.stringify(
            await registryListing(registry.repo, registry.log, path, event.queryStringParameters ?? {}),
          ),
        }),
      };
    }
  }

  return async (event) => {
    const route = routes[routePath(event)];
    if (!route) return detailOnly(404, 'Not Found');
    if (event.httpMethod.toUpperCase() !== route.method) return detailOnly(405, 'Method Not Allowed');
    try {
      return await route.run(route.needsBody ? decodeBody(event) : undefined, event);
    } catch (err) {
      if (err instanceof FeatureServerError) {
        return { statusCode: err.status, headers: JSON_HEADERS, body: err.body() };
      }
      options.onInternalError?.(err);
      // Feast's handler: any other exception is a 500 whose body is the JSON string of str(exc).
      return {
        statusCode: 500,
        headers: JSON_HEADERS,
        body: JSON.stringify((err as Error)?.message ?? String(err)),
      };
    }
  };
}

// API Gateway puts the stage in `path` only for some setups (custom domains with base paths);
// strip it and any trailing slash so both forms route.
function routePath(event: ProxyEvent): string {
  let path = event.path ?? '/';
  const stage = event.requestContext?.stage;
  if (stage && path.startsWith(`/${stage}/`)) path = path.slice(stage.length + 1);
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

function decodeBody(event: ProxyEvent): unknown {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new RequestValidationError(
      [
        {
          type: 'too_large',
          loc: ['body'],
          msg: `Request body must be at most ${MAX_BODY_BYTES} bytes, but ${bytes.length} were provided`,
          input: null,
        },
      ],
      413,
    );
  }
  const text = bytes.toString('utf8');
  if (text.trim() === '') {
    throw new RequestValidationError([
      { type: 'missing', loc: ['body'], msg: 'Field required', input: null },
    ]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RequestValidationError([
      {
        type: 'json_invalid',
        loc: ['body', 0],
        msg: 'JSON decode error',
        input: {},
        ctx: { error: (err as Error).message },
      },
    ]);
  }
}

function detailOnly(statusCode: number, detail: string): ProxyResult {
  return { statusCode, headers: JSON_HEADERS, body: JSON.stringify({ detail }) };
}
