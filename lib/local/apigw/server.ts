/**
 * The local API Gateway: one HTTP server on 127.0.0.1 serving any number of REST APIs, each
 * mounted under its own base path, with Lambda proxy integration (payload format 1.0) and
 * API Gateway's own error answers.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { ApiRoute, RestApiRoutes } from './routes';
import { createGuardedServer, readBodyUpTo, refuse, requestUrl } from '../http-guard';
import { listenOnLoopback } from '../listen';

/** What the gateway needs back from a Lambda invoke (a subset of the Lambda engine's result). */
export interface InvokeOutcome {
  readonly payload: unknown;
  /** Set when the function failed (error, crash, timeout). */
  readonly functionError?: string;
  readonly timedOut?: boolean;
}

/** Invokes a function by name with a proxy event. */
export type Invoker = (functionName: string, event: APIGatewayProxyEvent) => Promise<InvokeOutcome>;

/** Options of {@link startApiGateway}. */
export interface ApiGatewayOptions {
  readonly invoker: Invoker;
  /** @default 0 (an ephemeral port) */
  readonly port?: number;
  /** API Gateway gives up on an integration after 29 s and answers 504. @default 29000 */
  readonly integrationTimeoutMs?: number;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** Called when an invoker throws (the client gets a 502). @default console.error */
  readonly onError?: (err: unknown) => void;
}

/** Options of {@link ApiGateway.mount}. */
export interface MountOptions {
  /** `requestContext.stage`. @default routes.stage, else 'prod' */
  readonly stage?: string;
  /** `requestContext.apiId`. @default routes.logicalId, lower-cased */
  readonly apiId?: string;
  /** `stageVariables`. @default null */
  readonly stageVariables?: Readonly<Record<string, string>>;
}

/** A running gateway. */
export interface ApiGateway {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /**
   * Serves an API under `basePath` (`''` for the root, or e.g. `/prod`, `/registry/prod`).
   * Requests go to the mount with the longest matching base path.
   */
  mount(
    basePath: string,
    api: Pick<RestApiRoutes, 'routes'> & Partial<RestApiRoutes>,
    options?: MountOptions,
  ): void;
  /** Stops listening, drops open connections and frees the port. */
  close(): Promise<void>;
}

/** API Gateway's payload limit. */
export const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;
/** API Gateway's URL length limit (REST, Regional), in characters. */
export const MAX_URL_LENGTH = 10_240;
/** API Gateway's limit on header names and values, in bytes. */
export const MAX_HEADER_BYTES = 10_240;

interface Mount {
  readonly basePath: string;
  readonly routes: readonly CompiledRoute[];
  readonly stage: string;
  readonly apiId: string;
  readonly stageVariables: Readonly<Record<string, string>> | null;
  readonly binaryMediaTypes: readonly string[];
}

interface CompiledRoute {
  readonly route: ApiRoute;
  readonly segments: readonly string[];
}

// The exact bodies API Gateway sends (note the inconsistent spacing: it is theirs).
const MISSING_TOKEN = '{"message":"Missing Authentication Token"}';
const INTERNAL_ERROR = '{"message": "Internal server error"}';
const TIMED_OUT = '{"message": "Endpoint request timed out"}';
const TOO_LONG = '{"message":"Request Too Long"}';

/**
 * Starts the gateway on 127.0.0.1.
 *
 * @example
 * const gateway = await startApiGateway({ invoker: (fn, event) => lambda.invoke(fn, event) });
 * for (const api of routesFromTemplate(template.Resources, resolve)) gateway.mount(`/${api.stage}`, api);
 * // curl http://127.0.0.1:<port>/prod/models/wine
 */
export async function startApiGateway(options: ApiGatewayOptions): Promise<ApiGateway> {
  const mounts: Mount[] = [];
  const accountId = options.accountId ?? '000000000000';
  const onError = options.onError ?? ((err: unknown) => console.error('[apigw]', err));
  const server = createGuardedServer(
    (req, res) => {
      const requestId = randomUUID();
      res.setHeader('x-amzn-RequestId', requestId);
      res.setHeader('x-amz-apigw-id', Buffer.from(requestId).toString('base64').slice(0, 16));
      handle(req, res, requestId).catch((err: unknown) => {
        onError(err);
        if (!res.headersSent) send(res, 502, INTERNAL_ERROR, 'InternalServerErrorException');
        else res.destroy();
      });
    },
    {
      maxUrlLength: MAX_URL_LENGTH,
      maxHeaderBytes: MAX_HEADER_BYTES,
      maxBodyBytes: MAX_PAYLOAD_BYTES,
      // API Gateway's own refusals carry only a message; 413 has its fixed text.
      error: (status, message) => ({
        contentType: 'application/json',
        body: status === 413 ? TOO_LONG : status >= 500 ? INTERNAL_ERROR : JSON.stringify({ message }),
      }),
      onError,
    },
  );

  async function handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const url = requestUrl(req);
    if (!url) {
      req.resume();
      return send(res, 400, JSON.stringify({ message: `Invalid request URL: ${req.url}` }));
    }
    const rawPath = url.pathname;
    const mount = mounts
      .filter((m) => rawPath === m.basePath || rawPath.startsWith(`${m.basePath}/`) || m.basePath === '')
      .sort((a, b) => b.basePath.length - a.basePath.length)[0];
    const path = mount ? rawPath.slice(mount.basePath.length) || '/' : rawPath;
    const method = (req.method ?? 'GET').toUpperCase();
    const match = mount ? matchRoute(mount.routes, method, path) : undefined;
    if (!mount || !match) {
      req.resume();
      return send(res, 403, MISSING_TOKEN, 'MissingAuthenticationTokenException');
    }

    const body = await readBodyUpTo(req, MAX_PAYLOAD_BYTES);
    if (body === undefined) return refuse(req, res, 413, { contentType: 'application/json', body: TOO_LONG });

    const { route } = match;
    if (route.integration.type === 'mock') {
      res.writeHead(route.integration.statusCode, { ...route.integration.headers, 'Content-Length': 0 });
      res.end();
      return;
    }

    if (route.integration.type === 'unsupported') {
      onError(
        new Error(
          `${method} ${route.resourcePath} uses a ${route.integration.integrationType} integration, which the local gateway cannot run.`,
        ),
      );
      return send(res, 502, INTERNAL_ERROR, 'InternalServerErrorException');
    }

    const event = proxyEvent(req, url, path, body, match, mount, requestId, accountId);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      options.invoker(route.integration.functionName, event),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), options.integrationTimeoutMs ?? 29_000);
      }),
    ]).finally(() => clearTimeout(timer));
    if (outcome === 'timeout') return send(res, 504, TIMED_OUT);
    if (outcome.functionError) return send(res, 502, INTERNAL_ERROR, 'InternalServerErrorException');
    const response = proxyResponse(outcome.payload);
    if (!response) return send(res, 502, INTERNAL_ERROR, 'InternalServerErrorException');
    for (const [name, values] of Object.entries(response.headers)) res.setHeader(name, values);
    if (!res.hasHeader('content-type')) res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', response.body.length);
    res.writeHead(response.statusCode);
    res.end(method === 'HEAD' ? undefined : response.body);
  }

  const port = await listenOnLoopback(server, options.port);

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    mount(basePath, api, mountOptions = {}) {
      const normalized = basePath.replace(/\/+$/, '');
      if (normalized !== '' && !normalized.startsWith('/')) {
        throw new Error(`Base path must start with "/", but "${basePath}" was provided.`);
      }
      if (mounts.some((m) => m.basePath === normalized)) {
        throw new Error(`Base path "${normalized || '/'}" already has an API mounted.`);
      }
      mounts.push({
        basePath: normalized,
        routes: api.routes.map((route) => ({ route, segments: segmentsOf(route.resourcePath) })),
        stage: mountOptions.stage ?? api.stage ?? 'prod',
        apiId: mountOptions.apiId ?? (api.logicalId ?? 'local').toLowerCase().slice(0, 10),
        stageVariables: mountOptions.stageVariables ?? null,
        binaryMediaTypes: api.binaryMediaTypes ?? [],
      });
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, body: string, errorType?: string): void {
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  };
  if (errorType) headers['x-amzn-ErrorType'] = errorType;
  res.writeHead(status, headers);
  res.end(body);
}

function segmentsOf(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

interface Match {
  readonly route: ApiRoute;
  readonly pathParameters: Record<string, string> | null;
}

/**
 * API Gateway (REST) picks the resource first, by path alone: literal segments beat `{param}`,
 * which beats `{proxy+}`. Then the method on that resource, a specific one before `ANY`. A path
 * that matches no resource, or a resource without the method, is "Missing Authentication Token"
 * (there is no falling back to a less specific resource that has the method).
 */
export function matchRoute(
  routes: readonly CompiledRoute[],
  method: string,
  path: string,
): Match | undefined {
  const requested = path.split('/').filter((s) => s !== '');
  let best: { match: Match; score: number[] } | undefined;
  for (const { route, segments } of routes) {
    const params: Record<string, string> = {};
    const score: number[] = [];
    let ok = true;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i]!;
      const greedy = /^\{(.+)\+\}$/.exec(seg);
      if (greedy) {
        if (i !== segments.length - 1 || requested.length <= i) ok = false;
        else params[greedy[1]!] = requested.slice(i).map(safeDecode).join('/');
        score.push(0);
        break; // a greedy segment consumes the rest
      }
      if (i >= requested.length) {
        ok = false;
        break;
      }
      const param = /^\{(.+)\}$/.exec(seg);
      if (param) {
        params[param[1]!] = safeDecode(requested[i]!);
        score.push(1);
      } else if (seg === requested[i]) {
        score.push(2);
      } else {
        ok = false;
        break;
      }
    }
    const greedyRoute = segments.length > 0 && /^\{.+\+\}$/.test(segments[segments.length - 1]!);
    if (!ok || (!greedyRoute && segments.length !== requested.length)) continue;
    if (!best || compareScores(score, best.score) > 0) {
      best = { match: { route, pathParameters: Object.keys(params).length > 0 ? params : null }, score };
    }
  }
  if (!best) return undefined;
  const resourcePath = best.match.route.resourcePath;
  const onResource = routes.filter((r) => r.route.resourcePath === resourcePath).map((r) => r.route);
  const route = onResource.find((r) => r.method === method) ?? onResource.find((r) => r.method === 'ANY');
  return route ? { route, pathParameters: best.match.pathParameters } : undefined;
}

function compareScores(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The Lambda proxy integration event, payload format 1.0. */
function proxyEvent(
  req: IncomingMessage,
  url: URL,
  path: string,
  body: Buffer,
  match: Match,
  mount: Mount,
  requestId: string,
  accountId: string,
): APIGatewayProxyEvent {
  // rawHeaders keeps the client's spelling, which API Gateway passes through.
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    const existing =
      Object.keys(multiValueHeaders).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
    const values = multiValueHeaders[existing] ?? [];
    values.push(req.rawHeaders[i + 1]!);
    multiValueHeaders[existing] = values;
  }
  const headers = Object.fromEntries(
    Object.entries(multiValueHeaders).map(([k, v]) => [k, v[v.length - 1]!]),
  );
  const multiValueQuery: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) multiValueQuery[k] = [...(multiValueQuery[k] ?? []), v];
  const query = Object.fromEntries(Object.entries(multiValueQuery).map(([k, v]) => [k, v[v.length - 1]!]));
  const hasQuery = Object.keys(query).length > 0;
  const hasHeaders = Object.keys(headers).length > 0;

  const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const binary = body.length > 0 && isBinaryType(contentType, mount.binaryMediaTypes);
  const now = new Date();
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  const host = req.headers.host ?? '127.0.0.1';
  const method = (req.method ?? 'GET').toUpperCase();

  return {
    resource: match.route.resourcePath,
    path,
    httpMethod: method,
    headers: hasHeaders ? headers : (null as unknown as Record<string, string>),
    multiValueHeaders: hasHeaders ? multiValueHeaders : (null as unknown as Record<string, string[]>),
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQuery : null,
    pathParameters: match.pathParameters,
    stageVariables: mount.stageVariables ? { ...mount.stageVariables } : null,
    requestContext: {
      accountId,
      apiId: mount.apiId,
      authorizer: undefined,
      domainName: host,
      domainPrefix: host.split('.')[0]!,
      extendedRequestId: Buffer.from(requestId).toString('base64').slice(0, 16),
      httpMethod: method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp,
        user: null,
        userAgent: req.headers['user-agent'] ?? null,
        userArn: null,
      },
      path: `${mount.basePath}${path}` || '/',
      protocol: `HTTP/${req.httpVersion}`,
      requestId,
      requestTime: clfTime(now),
      requestTimeEpoch: now.getTime(),
      resourceId: match.route.resourceId,
      resourcePath: match.route.resourcePath,
      stage: mount.stage,
    },
    body: body.length === 0 ? null : binary ? body.toString('base64') : body.toString('utf8'),
    isBase64Encoded: binary,
  };
}

function isBinaryType(contentType: string, binaryMediaTypes: readonly string[]): boolean {
  return binaryMediaTypes.some((t) => {
    const [type, sub] = t.toLowerCase().split('/');
    const [ctType, ctSub] = contentType.split('/');
    return (type === '*' || type === ctType) && (sub === '*' || sub === ctSub);
  });
}

/** `09/Apr/2015:12:34:56 +0000`, the format of `requestContext.requestTime`. */
function clfTime(d: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/**
 * Maps a Lambda proxy result to status, headers and body; undefined when API Gateway would call
 * it malformed (not an object, statusCode not a valid number, body not a string, headers not
 * strings, base64 body that does not decode).
 */
export function proxyResponse(
  payload: unknown,
): { statusCode: number; headers: Record<string, string[]>; body: Buffer } | undefined {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return undefined;
  const p = payload as Record<string, unknown>;
  const statusCode = typeof p['statusCode'] === 'string' ? Number(p['statusCode']) : p['statusCode'];
  if (
    typeof statusCode !== 'number' ||
    !Number.isInteger(statusCode) ||
    statusCode < 100 ||
    statusCode > 599
  ) {
    return undefined;
  }
  const headers: Record<string, string[]> = {};
  const multi = p['multiValueHeaders'];
  if (multi !== undefined && multi !== null) {
    if (typeof multi !== 'object') return undefined;
    for (const [k, v] of Object.entries(multi)) {
      if (!Array.isArray(v)) return undefined;
      headers[k] = v.map(String);
    }
  }
  const single = p['headers'];
  if (single !== undefined && single !== null) {
    if (typeof single !== 'object') return undefined;
    for (const [k, v] of Object.entries(single)) {
      if (v !== null && typeof v === 'object') return undefined;
      const existing = Object.keys(headers).find((h) => h.toLowerCase() === k.toLowerCase());
      if (existing) {
        if (!headers[existing]!.includes(String(v))) headers[existing]!.push(String(v));
      } else headers[k] = [String(v)];
    }
  }
  const rawBody = p['body'];
  if (rawBody !== undefined && rawBody !== null && typeof rawBody !== 'string') return undefined;
  const text = (rawBody as string | undefined | null) ?? '';
  if (p['isBase64Encoded'] === true) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text.replace(/\s/g, ''))) return undefined;
    return { statusCode, headers, body: Buffer.from(text, 'base64') };
  }
  return { statusCode, headers, body: Buffer.from(text, 'utf8') };
}
