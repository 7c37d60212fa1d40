/**
 * The model server: one `node:http` server speaking Seldon Core v1 (external and internal paths, as
 * the Python wrapper serves them on one port) and the Open Inference Protocol v2, plus `/metrics`.
 *
 * | method    | path                                                        | protocol |
 * |-----------|-------------------------------------------------------------|----------|
 * | POST      | `/api/v1.0/predictions`, `/api/v0.1/predictions`            | seldon   |
 * | GET, POST | `/predict` (GET with `?json=`)                              | seldon   |
 * | POST      | `/api/v1.0/feedback`, `/api/v0.1/feedback`                  | seldon   |
 * | GET, POST | `/send-feedback`                                            | seldon   |
 * | GET       | `/health/ping`, `/health/status`, `/api/v1.0/health/status` | seldon   |
 * | GET       | `/ready`, `/live`                                           | seldon   |
 * | GET       | `/metadata`, `/api/v1.0/metadata`, `/api/v1.0/metadata/{m}` | seldon   |
 * | GET       | `/v2`, `/v2/health/live`, `/v2/health/ready`                | oip      |
 * | GET       | `/v2/models/{m}[/versions/{v}]`, `…/ready`                  | oip      |
 * | POST      | `/v2/models/{m}[/versions/{v}]/infer`                       | oip      |
 * | GET       | `/metrics`                                                  | –        |
 *
 * Paths may carry the ingress prefix `/seldon/{namespace}/{deployment}`. Seldon bodies may be
 * JSON, a form field `json=` or a query parameter `json=` (the wrapper's three ways).
 *
 * Client mistakes never answer 5xx: every error is in the protocol's own shape (paths under `/v2`
 * answer OIP's `{"error"}`, the rest Seldon's `{"status": …}`), 400 for bad input, 413 for a body
 * over the limit, 404 for an unknown path or model, 405 for a wrong method.
 *
 * Shutdown ({@link ModelServer.close}): stop accepting, answer `/ready` 503 and send
 * `Connection: close` on every response, wait for in-flight requests (bounded), flush the request logger.
 */
import { createServer, IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
// Imported, not the global: `globalThis.performance` is an accessor, a getter call on every read.
import { performance } from 'node:perf_hooks';
import { FastDecoder } from './fast-path';
import { ServingMetrics } from './metrics';
import { predictBatch, type ServedModel } from './model';
import {
  checkOipModel,
  decodeOipRequest,
  encodeOipResponse,
  OipError,
  oipErrorBody,
  oipModelMetadata,
  oipResponder,
  oipServerMetadata,
} from './oip';
import type { RequestLogger } from './request-log';
import { Float64Scratch } from './scratch';
import { UuidSource } from './uuid';
import {
  decodeSeldonFeedback,
  decodeSeldonRequest,
  encodeSeldonResponse,
  executorErrorBody,
  FEEDBACK_RESPONSE,
  SeldonError,
  seldonErrorBody,
  seldonMetadata,
} from './seldon';

/** The default request body limit: 8 MiB, room for a 50,000-row batch of the wine model. */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Options of {@link startModelServer}. */
export interface ModelServerOptions {
  readonly model: ServedModel;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 9000 (Seldon's model-container port); 0 picks a free port */
  readonly port?: number;
  /** Larger bodies answer 413. @default DEFAULT_MAX_BODY_BYTES */
  readonly maxBodyBytes?: number;
  /** Logs sampled predictions and feedback. @default - no request log */
  readonly logger?: RequestLogger;
  /** How long shutdown waits for in-flight requests before closing their connections. @default 10000 */
  readonly drainTimeoutMs?: number;
  /**
   * How long shutdown keeps accepting connections (answering `/ready` 503) before it stops: time
   * for Kubernetes to take the pod out of its Service after SIGTERM, so no request meets a refused
   * connection meanwhile.
   * @default 0
   */
  readonly drainDelayMs?: number;
  /**
   * This node's entry in Seldon's `meta.requestPath` (the wrapper adds `{PREDICTIVE_UNIT_ID: PREDICTIVE_UNIT_IMAGE}`).
   * @default - none added
   */
  readonly requestPath?: Readonly<Record<string, string>>;
  /** The server version in OIP server metadata. @default '0.1.0' */
  readonly serverVersion?: string;
  /** Reports unexpected (500) errors. @default written to stderr */
  readonly onError?: (err: unknown) => void;
}

/** A running model server. */
export interface ModelServer {
  /** `http://<host>:<port>` */
  readonly url: string;
  readonly port: number;
  readonly metrics: ServingMetrics;
  /** True once shutdown began. */
  readonly draining: boolean;
  readonly server: Server;
  /**
   * Serves a request that reached this process another way (the local front door): as if it came
   * in on {@link server}, with its path and query already split off the URL (and a route's prefix
   * taken off) by the caller.
   */
  handle(req: IncomingMessage, res: ServerResponse, target: { path: string; query?: string }): void;
  /** Drains and stops (idempotent): see the module note. */
  close(): Promise<void>;
}

type Protocol = 'seldon' | 'oip';
type Handler = (ex: Exchange, body: Buffer | undefined, query: string | undefined) => void;

interface Route {
  readonly id: number;
  readonly protocol: Protocol;
  readonly get?: Handler;
  readonly post?: Handler;
  readonly allow: string;
}

/** One request in flight: what the reply helpers and the body reader need, without a closure per request. */
class Exchange {
  /** The body read so far: its first chunk, then all of them once a second one came. */
  chunks: Buffer | Buffer[] | undefined = undefined;
  /** Bytes read so far; -1 once the body was refused as too large. */
  size = 0;
  /** What runs on the whole body, and the request's query. */
  handler: Handler | undefined = undefined;
  query: string | undefined = undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly route: Route,
    readonly start: number,
  ) {}
}

/** The request's {@link Exchange}, for the body listeners (shared functions, called with the request as `this`). */
const EXCHANGE = Symbol('exchange');
type Carrier = IncomingMessage & { [EXCHANGE]?: Exchange };

const EMPTY = Buffer.alloc(0);

const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=utf-8';
const METRICS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** Thrown by handlers for a request that cannot be served, in whichever protocol it came. */
class RouteError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * Starts the model server.
 *
 * @example
 * const server = await startModelServer({ model: compileModel(await loadModel(uri), { name: 'wine-quality' }), port: 9000 });
 * process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
 */
export async function startModelServer(options: ModelServerOptions): Promise<ModelServer> {
  const model = options.model;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const logger = options.logger;
  const requestPath = options.requestPath;
  const onError =
    options.onError ??
    ((err: unknown) => process.stderr.write(`[model-server] ${(err as Error).stack ?? String(err)}\n`));
  const metrics = new ServingMetrics(model);
  if (logger !== undefined) {
    metrics.queueDepth = () => logger.depth;
    logger.onOutcome = (outcome, n) => metrics.logged(outcome, n);
  }
  const responder = oipResponder(model);
  const metadataJson = JSON.stringify(seldonMetadata(model));
  const oipMetadataJson = JSON.stringify(oipModelMetadata(model));
  const serverMetadataJson = JSON.stringify(oipServerMetadata(options.serverVersion ?? '0.1.0'));
  // Inputs and predictions of the request being handled: no ArrayBuffer per request (see scratch.ts).
  const xScratch = new Float64Scratch();
  const yScratch = new Float64Scratch();
  // The common request shapes straight from the body's bytes; the rest through JSON.parse and the full decoders.
  const fast = new FastDecoder(model, requestPath, xScratch);
  /** The plain response meta (no puid), if ASCII; and whether the OIP answers' head is. */
  const asciiMeta = ASCII.test(fast.plainMeta.json) ? fast.plainMeta.json : undefined;
  const asciiHead = ASCII.test(responder.head);
  let draining = false;

  // ---- replies ---------------------------------------------------------------------------------

  function reply(
    ex: Exchange,
    status: number,
    contentType: string,
    body: string,
    extra?: Record<string, string>,
  ): void {
    const headers: Record<string, string | number> = {
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
    };
    if (draining) headers.connection = 'close';
    if (extra !== undefined) Object.assign(headers, extra);
    ex.res.writeHead(status, headers);
    ex.res.end(body);
    metrics.observe(ex.route.id, status, (performance.now() - ex.start) / 1000);
  }

  /**
   * A prediction's 200: {@link reply} with a flat header list, which writeHead reads without
   * enumerating an object's keys. `bytes` is the body's UTF-8 length; callers that know it is all
   * ASCII pass its length, which spares `Buffer.byteLength` flattening the concatenated string once
   * more before it is written.
   *
   * The header list is a fresh array: a shared one would hold each request's (young) id, and that
   * store into a long-lived array takes V8's write barrier slow path on every request. It is filled
   * element by element: an array literal here went through V8's runtime boilerplate copy.
   */
  function replyPrediction(ex: Exchange, body: string, requestId: string, bytes: number): void {
    if (draining) {
      reply(ex, 200, JSON_TYPE, body, { [REQUEST_ID_HEADER]: requestId });
      return;
    }
    const headers: (string | number)[] = new Array(6);
    headers[0] = 'content-type';
    headers[1] = JSON_TYPE;
    headers[2] = 'content-length';
    headers[3] = bytes;
    headers[4] = REQUEST_ID_HEADER;
    headers[5] = requestId;
    ex.res.writeHead(200, headers);
    ex.res.end(body);
    metrics.observe(ex.route.id, 200, (performance.now() - ex.start) / 1000);
  }

  function replyEmpty(ex: Exchange, status: number): void {
    reply(ex, status, TEXT_TYPE, '');
  }

  function fail(ex: Exchange, err: unknown): void {
    const oip = ex.route.protocol === 'oip';
    if (err instanceof SeldonError) {
      reply(ex, err.status, JSON_TYPE, seldonErrorBody(err.message, err.reason));
    } else if (err instanceof OipError) {
      reply(ex, err.status, JSON_TYPE, oipErrorBody(err.message));
    } else if (err instanceof RouteError) {
      const extra: Record<string, string> | undefined =
        err.status === 405
          ? { allow: ex.route.allow }
          : err.status === 413
            ? { connection: 'close' }
            : undefined;
      const body = oip
        ? oipErrorBody(err.message)
        : err.status === 400 || err.status === 413
          ? seldonErrorBody(err.message)
          : executorErrorBody(err.status, err.message);
      reply(ex, err.status, JSON_TYPE, body, extra);
    } else {
      onError(err);
      const message = `internal error: ${(err as Error).message ?? String(err)}`;
      reply(
        ex,
        500,
        JSON_TYPE,
        oip ? oipErrorBody(message) : seldonErrorBody(message, 'MICROSERVICE_INTERNAL_ERROR'),
      );
    }
  }

  // ---- body decoding ---------------------------------------------------------------------------

  /** The Seldon message of a request: query `json=`, form field `json=`, or the raw JSON body. */
  function seldonBody(ex: Exchange, body: Buffer | undefined, query: string | undefined): unknown {
    let text: string | null | undefined;
    if (query !== undefined) text = new URLSearchParams(query).get('json') ?? undefined;
    if (text === undefined && body !== undefined && body.length > 0) {
      const type = ex.req.headers['content-type'];
      if (type?.startsWith(FORM_TYPE)) {
        text = new URLSearchParams(body.toString('utf8')).get('json');
      } else if (type?.startsWith('multipart/')) {
        throw new SeldonError(
          'multipart/form-data bodies are not supported: send JSON or a form field json=',
        );
      } else {
        text = body.toString('utf8');
      }
    }
    if (text === undefined || text === null) throw new SeldonError("Can't find JSON in data");
    try {
      return JSON.parse(text);
    } catch {
      throw new SeldonError("Can't find JSON in data");
    }
  }

  function oipBody(body: Buffer | undefined): unknown {
    if (body === undefined || body.length === 0)
      throw new OipError('the request body must be a JSON inference request');
    try {
      return JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new OipError(`the request body is not valid JSON: ${(err as Error).message}`);
    }
  }

  // ---- handlers --------------------------------------------------------------------------------

  const seldonPredict: Handler = (ex, body, query) => {
    const request =
      (query === undefined && body !== undefined && isRawJson(ex.req) ? fast.seldon(body) : undefined) ??
      decodeSeldonRequest(seldonBody(ex, body, query), model, requestPath, xScratch);
    const requestId = request.puid ?? headerRequestId(ex.req, SeldonError);
    const y = predictBatch(model, request.x, request.rows, yScratch);
    if (y === undefined)
      throw new SeldonError('a prediction is not a finite number: the inputs are out of range');
    const answer = encodeSeldonResponse(request, y, model);
    // ndarray and tensor answers are ASCII but for their meta: ASCII when it is the plain one.
    const ascii = request.metaJson === asciiMeta && (request.kind === 'ndarray' || request.kind === 'tensor');
    replyPrediction(ex, answer, requestId, ascii ? answer.length : Buffer.byteLength(answer));
    metrics.predicted('seldon', request.rows);
    if (logger?.sampled()) {
      logger.push({
        kind: 'prediction',
        ts: Date.now(),
        protocol: 'seldon',
        requestId,
        rows: request.rows,
        // Copies: the scratch views are the next request's.
        x: request.x.slice(),
        y: y.slice(),
      });
    }
  };

  const seldonFeedback: Handler = (ex, body, query) => {
    const feedback = decodeSeldonFeedback(seldonBody(ex, body, query));
    reply(ex, 200, JSON_TYPE, FEEDBACK_RESPONSE);
    metrics.feedback(feedback.reward);
    logger?.push({
      kind: 'feedback',
      ts: Date.now(),
      requestId: feedback.puid,
      reward: feedback.reward,
      truth: feedback.truth,
    });
  };

  function oipInfer(ex: Exchange, body: Buffer | undefined): void {
    const request =
      (body === undefined ? undefined : fast.oip(body)) ?? decodeOipRequest(oipBody(body), model, xScratch);
    const requestId = request.id ?? headerRequestId(ex.req, OipError);
    const y = predictBatch(model, request.x, request.rows, yScratch);
    if (y === undefined)
      throw new OipError('a prediction is not a finite number: the inputs are out of range');
    const answer = encodeOipResponse(responder, request, y);
    // ASCII but for the model's name and version and the request's id.
    const ascii = asciiHead && request.id === undefined;
    replyPrediction(ex, answer, requestId, ascii ? answer.length : Buffer.byteLength(answer));
    metrics.predicted('oip', request.rows);
    if (logger?.sampled()) {
      logger.push({
        kind: 'prediction',
        ts: Date.now(),
        protocol: 'oip',
        requestId,
        rows: request.rows,
        // Copies: the scratch views are the next request's.
        x: request.x.slice(),
        y: y.slice(),
      });
    }
  }

  const json =
    (text: string): Handler =>
    (ex) =>
      reply(ex, 200, JSON_TYPE, text);
  const ready: Handler = (ex) => replyEmpty(ex, draining ? 503 : 200);
  const oipReady: Handler = (ex) =>
    reply(ex, draining ? 503 : 200, JSON_TYPE, draining ? '{"ready":false}' : '{"ready":true}');
  const modelReadyBody = (r: boolean) => JSON.stringify({ name: model.name, ready: r });

  // ---- routes ----------------------------------------------------------------------------------

  const routes = new Map<string, Route>();
  function add(
    protocol: Protocol | 'health' | 'metrics',
    template: string,
    handlers: { get?: Handler; post?: Handler },
    paths = [template],
    predicts = false,
  ): Route {
    const id = metrics.route({ protocol, route: template, predicts });
    const allow = [handlers.get ? 'GET, HEAD' : '', handlers.post ? 'POST' : ''].filter(Boolean).join(', ');
    const route: Route = { id, protocol: protocol === 'oip' ? 'oip' : 'seldon', ...handlers, allow };
    for (const p of paths) routes.set(p, route);
    return route;
  }
  for (const p of ['/api/v1.0/predictions', '/api/v0.1/predictions'])
    add('seldon', p, { post: seldonPredict }, [p], true);
  add('seldon', '/predict', { get: seldonPredict, post: seldonPredict }, ['/predict'], true);
  for (const p of ['/api/v1.0/feedback', '/api/v0.1/feedback']) add('seldon', p, { post: seldonFeedback });
  add('seldon', '/send-feedback', { get: seldonFeedback, post: seldonFeedback });
  add('health', '/health/ping', { get: (ex) => reply(ex, 200, TEXT_TYPE, 'pong') });
  add('health', '/health/status', { get: json('{"strData":"healthy","meta":{}}') }, [
    '/health/status',
    '/api/v1.0/health/status',
  ]);
  add('health', '/ready', { get: ready });
  add('health', '/live', { get: (ex) => replyEmpty(ex, 200) });
  add('seldon', '/metadata', { get: json(metadataJson) }, ['/metadata', '/api/v1.0/metadata']);
  add('metrics', '/metrics', { get: (ex) => reply(ex, 200, METRICS_TYPE, metrics.render()) });
  add('oip', '/v2', { get: json(serverMetadataJson) }, ['/v2', '/v2/']);
  add('oip', '/v2/health/live', { get: json('{"live":true}') });
  add('oip', '/v2/health/ready', { get: oipReady });

  // Dynamic paths; the served model's own paths are also entered literally so a request for it is
  // one map lookup.
  const seldonMetadataById = add('seldon', '/api/v1.0/metadata/{model}', {}, []);
  const metadataHandler: Handler = (ex) => {
    const name = ex.req.url!.slice(ex.req.url!.lastIndexOf('/') + 1).split('?')[0]!;
    if (decodeSegment(name) !== model.name)
      throw new RouteError(`Failed to find model ${decodeSegment(name)}`, 404);
    reply(ex, 200, JSON_TYPE, metadataJson);
  };
  const seldonMetadataRoute: Route = { ...seldonMetadataById, get: metadataHandler, allow: 'GET, HEAD' };
  const oipRoute = (template: string, kind: 'metadata' | 'ready' | 'infer'): Route => {
    const r = add('oip', template, {}, [], kind === 'infer');
    return kind === 'infer'
      ? { ...r, post: oipInfer, allow: 'POST' }
      : { ...r, get: kind === 'ready' ? oipModelReady : json(oipMetadataJson), allow: 'GET, HEAD' };
  };
  const oipRoutes = {
    metadata: oipRoute('/v2/models/{model}', 'metadata'),
    ready: oipRoute('/v2/models/{model}/ready', 'ready'),
    infer: oipRoute('/v2/models/{model}/infer', 'infer'),
    versionMetadata: oipRoute('/v2/models/{model}/versions/{version}', 'metadata'),
    versionReady: oipRoute('/v2/models/{model}/versions/{version}/ready', 'ready'),
    versionInfer: oipRoute('/v2/models/{model}/versions/{version}/infer', 'infer'),
  };
  function oipModelReady(ex: Exchange): void {
    reply(ex, draining ? 503 : 200, JSON_TYPE, modelReadyBody(!draining));
  }
  const own = `/v2/models/${encodeURIComponent(model.name)}`;
  routes.set(own, oipRoutes.metadata);
  routes.set(`${own}/ready`, oipRoutes.ready);
  routes.set(`${own}/infer`, oipRoutes.infer);
  if (model.version !== undefined) {
    const v = `${own}/versions/${encodeURIComponent(model.version)}`;
    routes.set(v, oipRoutes.versionMetadata);
    routes.set(`${v}/ready`, oipRoutes.versionReady);
    routes.set(`${v}/infer`, oipRoutes.versionInfer);
  }
  /** The path last found in {@link routes}, and its route. */
  let lastPath = '';
  let lastRoute: Route | undefined;
  const notFound: Route = add('seldon', '(unmatched)', {}, []);
  const oipNotFound: Route = add('oip', '(unmatched)', {}, []);

  /** Routes a path not in the map; an OIP model path for another model or version answers 404 in OIP's shape. */
  function dynamicRoute(path: string): { route: Route; error?: RouteError | OipError } {
    if (path.startsWith('/api/v1.0/metadata/') || path.startsWith('/api/v0.1/metadata/')) {
      if (path.indexOf('/', 19) === -1) return { route: seldonMetadataRoute };
    }
    if (path.startsWith('/v2/models/')) {
      const parts = path.slice(11).split('/');
      const name = decodeSegment(parts[0]!);
      let version: string | undefined;
      let rest = parts.slice(1);
      if (rest[0] === 'versions' && rest.length >= 2) {
        version = decodeSegment(rest[1]!);
        rest = rest.slice(2);
      }
      const tail = rest.join('/');
      const kind = tail === '' ? 'metadata' : tail === 'ready' || tail === 'infer' ? tail : undefined;
      if (kind !== undefined && name !== undefined && version !== '') {
        const key =
          (version === undefined ? '' : 'version') +
          (version === undefined ? kind : kind[0]!.toUpperCase() + kind.slice(1));
        const route = oipRoutes[key as keyof typeof oipRoutes];
        try {
          checkOipModel(model, name, version);
        } catch (err) {
          return { route, error: err as OipError };
        }
        return { route };
      }
      return { route: oipNotFound, error: new RouteError(`Not Found: ${path}`, 404) };
    }
    if (path.startsWith('/v2/'))
      return { route: oipNotFound, error: new RouteError(`Not Found: ${path}`, 404) };
    return { route: notFound, error: new RouteError(`Not Found: ${path}`, 404) };
  }

  // ---- request loop ----------------------------------------------------------------------------

  function dispatch(
    ex: Exchange,
    handler: Handler,
    body: Buffer | undefined,
    query: string | undefined,
  ): void {
    try {
      handler(ex, body, query);
    } catch (err) {
      fail(ex, err);
    }
  }

  function onRequest(req: IncomingMessage, res: ServerResponse, target?: { path: string; query?: string }): void {
    const start = performance.now();
    let path: string;
    let query: string | undefined;
    if (target !== undefined) ({ path, query } = target);
    else {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      path = q === -1 ? url : url.slice(0, q);
      query = q === -1 ? undefined : url.slice(q + 1);
      if (path.startsWith('/seldon/')) path = stripIngressPrefix(path);
    }
    // Traffic is mostly one path: comparing with the last one found is cheaper than hashing the
    // request's fresh string for the map. The last path is kept only when it changes: storing each
    // request's (young) string in this long-lived closure would take V8's write barrier slow path
    // (a remembered-set entry, and its cache misses) on every request.
    let route: Route | undefined;
    if (path === lastPath) route = lastRoute;
    else {
      route = routes.get(path);
      if (route !== undefined) {
        lastPath = path;
        lastRoute = route;
      }
    }
    let routeError: Error | undefined;
    if (route === undefined) ({ route, error: routeError } = dynamicRoute(path));
    const ex = new Exchange(req, res, route, start);
    const method = req.method;
    if (routeError !== undefined) {
      fail(ex, routeError);
    } else if (method === 'POST' && route.post !== undefined) {
      readBody(ex, route.post, query);
    } else if ((method === 'GET' || method === 'HEAD') && route.get !== undefined) {
      dispatch(ex, route.get, undefined, query);
    } else if (method === 'OPTIONS') {
      res.writeHead(204, { allow: route.allow });
      res.end();
      metrics.observe(route.id, 204, (performance.now() - start) / 1000);
    } else {
      fail(ex, new RouteError(`Method ${method} is not allowed on ${path}; allowed: ${route.allow}`, 405));
    }
  }

  function readBody(ex: Exchange, handler: Handler, query: string | undefined): void {
    const req = ex.req;
    const declared = req.headers['content-length'];
    if (declared !== undefined && declaredTooLarge(declared)) {
      tooLarge(ex, `${declared} were declared`);
      return;
    }
    ex.handler = handler;
    ex.query = query;
    if (req instanceof ExchangeRequest) {
      req[EXCHANGE] = ex;
      return;
    }
    (req as Carrier)[EXCHANGE] = ex;
    req.on('data', onBodyChunk);
    req.on('end', onBodyEnd);
  }

  function bodyChunk(ex: Exchange, chunk: Buffer): void {
    if (ex.size < 0) return;
    ex.size += chunk.length;
    if (ex.size > maxBody) {
      ex.size = -1;
      ex.chunks = undefined;
      tooLarge(ex, 'more were sent');
      return;
    }
    const chunks = ex.chunks;
    if (chunks === undefined) ex.chunks = chunk;
    else if (Array.isArray(chunks)) chunks.push(chunk);
    else ex.chunks = [chunks, chunk];
  }

  function bodyEnd(ex: Exchange): void {
    if (ex.size < 0) return;
    const chunks = ex.chunks;
    const body = chunks === undefined ? EMPTY : Array.isArray(chunks) ? Buffer.concat(chunks, ex.size) : chunks;
    dispatch(ex, ex.handler!, body, ex.query);
  }
  /**
   * The server's requests: an `IncomingMessage` born with its {@link EXCHANGE} slot, so setting it
   * keeps the object's shape (a symbol added later changes it on every request, and makes the
   * store a megamorphic lookup). Requests handed in by {@link ModelServer.handle} are plain ones.
   * A class per server, so that `push` calls this server's own body functions.
   *
   * A body the server reads goes straight from Node's HTTP parser to the exchange: the parser hands
   * an `IncomingMessage` its body with `push(chunk)` and its end with `push(null)` (`parserOnBody`
   * and `parserOnMessageComplete` in Node's `_http_common.js`, the same from Node 12 to 24), and this
   * class takes both instead of buffering them in the stream for `'data'` and `'end'` listeners. At
   * the end it marks the request dumped, as Node's server does with a body no one read: everything
   * the client sent is in hand, so the stream has nothing left to deliver, and the response's end no
   * longer sets it flowing to an `'end'` no one listens for (its `nextTick`s and auto-destroy). With
   * the exchange let go at the end, a prediction went from ~68.6 k to ~59.5 k instructions (callgrind,
   * bench/serve/instructions.ts; bare node:http 62.1 k). A body refused as too large goes back to
   * the stream (see `tooLarge`), so it still ends.
   */
  class ExchangeRequest extends IncomingMessage {
    [EXCHANGE]: Exchange | undefined = undefined;

    override push(chunk: Buffer | null, encoding?: BufferEncoding): boolean {
      const ex = this[EXCHANGE];
      if (ex === undefined || ex.size < 0) return super.push(chunk, encoding);
      if (chunk !== null) {
        bodyChunk(ex, chunk);
        return true;
      }
      (this as unknown as { _dumped: boolean })._dumped = true;
      // Node keeps a connection's last request (its parser's `incoming`) until the next one comes:
      // let go of the exchange (the body, the response) now.
      this[EXCHANGE] = undefined;
      bodyEnd(ex);
      return false;
    }
  }

  function onBodyChunk(this: IncomingMessage, chunk: Buffer): void {
    bodyChunk((this as Carrier)[EXCHANGE]!, chunk);
  }

  function onBodyEnd(this: IncomingMessage): void {
    bodyEnd((this as Carrier)[EXCHANGE]!);
  }

  /** Digits in {@link maxBody}: a shorter run of digits is a smaller number. */
  const maxBodyDigits = String(maxBody).length;
  /** `Number(declared) > maxBody`, without a string-to-number conversion for the usual short digit strings. */
  function declaredTooLarge(declared: string): boolean {
    const n = declared.length;
    if (n > 0 && n < maxBodyDigits) {
      let digits = true;
      for (let i = 0; i < n && digits; i++) {
        const c = declared.charCodeAt(i);
        digits = c >= 0x30 && c <= 0x39;
      }
      if (digits) return false;
    }
    return Number(declared) > maxBody;
  }

  function tooLarge(ex: Exchange, provided: string): void {
    fail(ex, new RouteError(`The request body must be at most ${maxBody} bytes, but ${provided}`, 413));
    // The rest of the body is read and discarded (so the client sees the 413, not a reset) until
    // the client stops; one that keeps sending is cut off.
    ex.req.resume();
    setTimeout(() => ex.req.destroy(), 5000).unref();
  }

  const listener = (req: IncomingMessage, res: ServerResponse, target?: { path: string; query?: string }) => {
    // No request, however malformed, may throw out of the listener and take the process down. (A
    // client hanging up mid-body destroys the request with an 'aborted' error, which Node (>= 16)
    // emits only to an 'error' listener: without one, nothing is thrown.)
    try {
      onRequest(req, res, target);
    } catch (err) {
      onError(err);
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(500, { 'content-type': JSON_TYPE });
        res.end(seldonErrorBody(`internal error: ${(err as Error)?.message}`, 'MICROSERVICE_INTERNAL_ERROR'));
      }
    }
  };
  const server = createServer({ keepAliveTimeout: 65_000, IncomingMessage: ExchangeRequest }, (req, res) =>
    listener(req, res),
  );
  // Refuse an oversized body before `100 Continue`, so the client never sends it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (!(Number(req.headers['content-length']) > maxBody)) res.writeContinue();
    server.emit('request', req, res);
  });
  server.on('clientError', (err, socket) => {
    // Malformed HTTP: answer 400 (431 for headers past the parser's limit) when the socket can
    // still take it, never throw.
    const code = (err as NodeJS.ErrnoException).code;
    if (socket.writable && code !== 'ECONNRESET') {
      socket.end(
        code === 'HPE_HEADER_OVERFLOW'
          ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'
          : 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
      );
    } else {
      socket.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 9000, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  const drainDelayMs = options.drainDelayMs ?? 0;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    metrics,
    server,
    handle: listener,
    get draining() {
      return draining;
    },
    close() {
      closing ??= (async () => {
        draining = true;
        if (drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, drainDelayMs));
        // close() stops accepting and closes idle keep-alive connections; busy ones close after
        // their response (which carries `connection: close`), or when the drain deadline passes.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        const deadline = setTimeout(() => server.closeAllConnections(), drainTimeoutMs);
        await closed;
        clearTimeout(deadline);
        await logger?.close();
      })();
      return closing;
    },
  };
}

/**
 * The response header naming a prediction's request id: the one the request log records and
 * labels join on. It is the body's own id when the caller chose one (Seldon `meta.puid`, OIP
 * `id`), else this header's value as the caller sent it, else a fresh UUID (as Seldon's executor
 * and MLServer assign one).
 */
export const REQUEST_ID_HEADER = 'x-request-id';
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
/** All ASCII: no code unit past 0x7f. */
const ASCII = /^[^\u0080-\uffff]*$/;
const freshIds = new UuidSource();

function headerRequestId(req: IncomingMessage, error: new (message: string) => Error): string {
  const sent = req.headers[REQUEST_ID_HEADER];
  if (sent === undefined) return freshIds.take();
  if (typeof sent !== 'string' || !REQUEST_ID.test(sent)) {
    throw new error(
      `the ${REQUEST_ID_HEADER} header must be 1 to 128 visible ASCII characters, but ${JSON.stringify(sent).slice(0, 80)} was provided`,
    );
  }
  return sent;
}

/** Whether a Seldon body is JSON as sent (not a form field `json=`, not multipart): see `seldonBody`. */
function isRawJson(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  return type === undefined || !(type.startsWith(FORM_TYPE) || type.startsWith('multipart/'));
}


function decodeSegment(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** `/seldon/{namespace}/{deployment}/rest` → `/rest` (the ingress prefix of Seldon's external API). */
function stripIngressPrefix(path: string): string {
  let at = 0;
  for (let i = 0; i < 3 && at !== -1; i++) at = path.indexOf('/', at + 1);
  return at === -1 ? '/' : path.slice(at);
}
