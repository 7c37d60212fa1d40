/**
 * Serving in the local environment: the stand-in for EKS + Seldon Core, the one edge of the
 * platform with no local engine. A promoted model version becomes a deployment — the kit's real
 * model server, in-process, loading the artifact from the local lake — and the front door hands it
 * the requests on the prediction API's routes (as the stage declares them: `/seldon/{namespace}/
 * {deployment}/{proxy+}`, `/v2/{proxy+}`), the same paths as behind API Gateway on AWS. The request
 * is dispatched to the model server's handler directly, its path split once here: no second HTTP
 * hop on loopback.
 *
 * A redeploy starts the new server first and only then retires the old one, so requests never
 * see a gap.
 *
 * @example
 * const serving = new LocalServing({ s3Endpoint, region, routes: servingRoutes(['/v2/{proxy+}']), requestLogDir });
 * await serving.deploy({ namespace: 'seldon', deployment: 'wine-quality', modelUri: 's3://…/model.tar.gz', version: '1' });
 */
import { type ClientRequest, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { s3Client } from '../adapters/clients';
import { type S3Objects, s3Objects } from '../adapters/s3/objects';
import { resolveEnvironment } from '../config';
import {
  compileModel,
  DEFAULT_MAX_BODY_BYTES,
  DirectorySink,
  type ExpectedArtifact,
  loadModel,
  type ModelServer,
  oipErrorBody,
  RequestLogger,
  requestLogDeploymentDir,
  SinkFullError,
  seldonErrorBody,
  startModelServer,
} from '../serving';
import { answer, decodePercent, type ErrorAnswer, type ErrorRenderer, refuse } from './http-guard';
import { MAX_PAYLOAD_BYTES } from './apigw';

/**
 * One route of the prediction API (API Gateway path syntax). A route naming `{namespace}` and
 * `{deployment}` selects a deployment by them (Seldon's ingress path) and speaks Seldon; any other
 * speaks the Open Inference Protocol and selects the deployment serving the model its path names.
 */
export interface ServingRoute {
  readonly template: string;
  readonly protocol: 'seldon' | 'oip';
  /** The literal segments before the first parameter: a path under them is this route's. */
  readonly prefix: string;
  /** The parameters after the prefix, in order; a `+` parameter takes the rest. */
  readonly params: readonly { readonly name: string; readonly greedy: boolean }[];
}

/** Compiles the prediction API's route templates; one the front door cannot serve throws. */
export function servingRoutes(templates: readonly string[]): ServingRoute[] {
  return templates.map((template) => {
    const segments = template.split('/').slice(1);
    const firstParam = segments.findIndex((s) => s.startsWith('{'));
    const literal = firstParam === -1 ? segments : segments.slice(0, firstParam);
    const params = (firstParam === -1 ? [] : segments.slice(firstParam)).map((s, i, all) => {
      const m = /^\{([A-Za-z0-9_]+)(\+?)\}$/.exec(s);
      if (!m || (m[2] && i !== all.length - 1)) {
        throw new Error(
          `A prediction route must be literal segments then {parameters}, a {name+} only last, but ${template} was provided`,
        );
      }
      return { name: m[1]!, greedy: m[2] === '+' };
    });
    if (literal.length === 0) throw new Error(`A prediction route must start with a literal segment, but ${template} was provided`);
    const names = params.map((p) => p.name);
    const protocol = names.includes('namespace') && names.includes('deployment') ? 'seldon' : 'oip';
    return { template, protocol, prefix: `/${literal.join('/')}`, params };
  });
}

/** A request path on a serving route: the parameters (raw, as sent) and what follows them. */
interface RouteMatch {
  readonly route: ServingRoute;
  readonly params: Readonly<Record<string, string>>;
  /** The path after the non-greedy parameters (`/api/v1.0/predictions`). */
  readonly rest: string;
}

function matchRoute(routes: readonly ServingRoute[], path: string): RouteMatch | undefined {
  const route = routes.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
  if (!route) return undefined;
  const segments = path.slice(route.prefix.length + 1).split('/');
  const params: Record<string, string> = {};
  let taken = 0;
  for (const p of route.params) {
    if (p.greedy) break;
    params[p.name] = segments[taken++] ?? '';
  }
  return { route, params, rest: `/${segments.slice(taken).join('/')}` };
}

/**
 * The front door's limits, API Gateway's (REST, Regional): a URL of at most 10,240 characters and
 * 10,240 bytes of headers; bodies up to the model server's limit on serving's routes and API
 * Gateway's 10 MiB elsewhere.
 */
export function frontDoorLimits(routes: () => readonly ServingRoute[]) {
  return {
    maxUrlLength: 10_240,
    maxHeaderBytes: 10_240,
    maxBodyBytes: (req: IncomingMessage): number =>
      matchRoute(routes(), pathOf(req)) ? DEFAULT_MAX_BODY_BYTES : MAX_PAYLOAD_BYTES,
  } as const;
}

/**
 * Errors the front door answers itself, in the protocol of the route asked for. `routes` is read
 * per request: they are known once the assembly is.
 */
export function frontDoorError(routes: () => readonly ServingRoute[]): ErrorRenderer {
  return (status, message, req) => {
    const protocol = req ? matchRoute(routes(), pathOf(req))?.route.protocol : undefined;
    const body =
      protocol === 'seldon'
        ? seldonErrorBody(message, status >= 500 ? 'MICROSERVICE_INTERNAL_ERROR' : 'MICROSERVICE_BAD_DATA')
        : protocol === 'oip'
          ? oipErrorBody(message)
          : JSON.stringify({ message });
    return { contentType: 'application/json', body };
  };
}

export interface Deployment {
  readonly namespace: string;
  readonly deployment: string;
  readonly modelName: string;
  readonly version: string;
  readonly modelUri: string;
  readonly url: string;
}

export interface LocalServingOptions {
  readonly s3Endpoint: string;
  readonly region: string;
  /** The prediction API's routes (see {@link servingRoutes}), as the stage's serving fact lists them. */
  readonly routes: readonly ServingRoute[];
  /** Where sampled request/response logs go (a lake directory); undefined turns logging off. */
  readonly requestLogDir?: string;
  /** Fraction of predictions logged. @default the local environment config's `serving.requestLogSampleRate` */
  readonly requestLogSampleRate?: number;
  /** Most bytes one deployment's request log may hold; logging stops there. @default {@link LOCAL_REQUEST_LOG_MAX_BYTES} */
  readonly requestLogMaxBytes?: number;
  readonly log?: (line: string) => void;
}

/** The default cap on one local deployment's request log. */
export const LOCAL_REQUEST_LOG_MAX_BYTES = 64 * 1024 * 1024;

export class LocalServing {
  private readonly objects: S3Objects;
  private readonly servers = new Map<string, { deployment: Deployment; server: ModelServer }>();

  constructor(private readonly options: LocalServingOptions) {
    this.objects = s3Objects(
      s3Client(
        { AWS_ENDPOINT_URL_S3: options.s3Endpoint, AWS_REGION: options.region },
        { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } },
      ),
    );
  }

  get deployments(): Deployment[] {
    return [...this.servers.values()].map((s) => s.deployment);
  }

  async deploy(d: {
    namespace: string;
    deployment: string;
    modelUri: string;
    version: string;
    modelName?: string;
    /** The registered digest and S3 object version the artifact is held to (refused otherwise). */
    expected?: ExpectedArtifact;
  }): Promise<Deployment> {
    const key = `${d.namespace}/${d.deployment}`;
    const current = this.servers.get(key)?.deployment;
    // Stage and alias promotions of one version both arrive: serving it once is enough.
    if (current && current.version === d.version && current.modelUri === d.modelUri) return current;
    const model = await loadModel(d.modelUri, { objects: this.objects, ...(d.expected ? { expected: d.expected } : {}) });
    const name = d.modelName ?? d.deployment;
    let lastReport = 0;
    const logger = this.options.requestLogDir
      ? new RequestLogger({
          sink: new DirectorySink(join(this.options.requestLogDir, requestLogDeploymentDir(d.deployment)), {
            maxBytes: this.options.requestLogMaxBytes ?? LOCAL_REQUEST_LOG_MAX_BYTES,
          }),
          model: { name, version: d.version, features: model.features },
          sampleRate: this.options.requestLogSampleRate ?? resolveEnvironment('local').serving.requestLogSampleRate,
          // The cap is reported once by the logger; a failing disk at most once a minute.
          onError: (err) => {
            if (!(err instanceof SinkFullError) && Date.now() - lastReport < 60_000) return;
            lastReport = Date.now();
            this.options.log?.(`[serving ${key}] request log: ${(err as Error).message}`);
          },
        })
      : undefined;
    const server = await startModelServer({
      model: compileModel(model, { name, version: d.version }),
      port: 0,
      logger,
      onError: (err) => this.options.log?.(`[serving ${key}] ${(err as Error).message}`),
    });
    const deployment: Deployment = { ...d, modelName: name, url: server.url };
    const previous = this.servers.get(key);
    this.servers.set(key, { deployment, server });
    if (previous) await previous.server.close();
    this.options.log?.(`[serving] ${key} now serves ${name} version ${d.version} (${d.modelUri})`);
    return deployment;
  }

  /** Serves a request on one of the prediction routes; false when the path is on none of them. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const match = matchRoute(this.options.routes, path);
    if (!match) return false;
    const query = q === -1 ? undefined : url.slice(q + 1);
    if (match.route.protocol === 'seldon') {
      const { namespace, deployment } = match.params;
      const target = this.servers.get(`${namespace}/${deployment}`)?.server;
      if (!target) {
        sendJson(res, 404, {
          status: {
            code: -1,
            info: `no deployment ${namespace}/${deployment} is being served locally`,
            reason: 'NOT_FOUND',
            status: 'FAILURE',
          },
        });
      } else target.handle(req, res, { path: match.rest, query });
      return true;
    }
    // OIP: the route's paths are the model server's own (/v2/models/<model>/…); the deployment is
    // the one serving the model named, or any for the server-level paths.
    const encoded = /^\/models\/([^/]+)/.exec(match.rest)?.[1];
    const model = encoded === undefined ? undefined : decodePercent(encoded);
    if (encoded !== undefined && model === undefined) {
      sendJson(res, 400, {
        error: `The model name must be a valid percent-encoded UTF-8 string, but ${encoded} was provided`,
      });
      return true;
    }
    const entries = [...this.servers.values()];
    const target = model ? entries.find((e) => e.deployment.modelName === model)?.server : entries[0]?.server;
    if (!target) sendJson(res, 404, { error: model ? `Model ${model} not found` : 'no model is being served' });
    else target.handle(req, res, { path, query });
    return true;
  }

  async close(): Promise<void> {
    for (const { server } of this.servers.values()) await server.close();
    this.servers.clear();
  }
}

/** Options of {@link proxy}. */
export interface ProxyOptions {
  /** A body that grows past this (chunked, or beyond its declared length) is refused with 413. */
  readonly maxBodyBytes?: number;
  /** Renders the proxy's own errors. @default `{"message": …}` */
  readonly error?: ErrorRenderer;
}

/**
 * Forwards a request to `base` and streams the answer back. The request's path is sent as it came,
 * never resolved against `base` (`//other-host/x` must not leave loopback).
 */
export function proxy(req: IncomingMessage, res: ServerResponse, base: string, options: ProxyOptions = {}): void {
  const render = options.error ?? ((_status: number, message: string): ErrorAnswer => ({
    contentType: 'application/json',
    body: JSON.stringify({ message }),
  }));
  const target = new URL(base);
  const headers = { ...req.headers, host: target.host };
  // The guard in front already answered `100 Continue`; the upstream need not be asked again.
  delete headers.expect;
  let upstream: ClientRequest;
  try {
    upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url ?? '/', headers },
      (reply) => {
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
      },
    );
  } catch (err) {
    // What Node's parser let through but its client refuses (e.g. a control character in the path).
    req.resume();
    return answer(res, 400, render(400, `The request cannot be forwarded: ${(err as Error).message}`, req));
  }
  let refused = false;
  upstream.on('error', (err) => {
    if (refused) return;
    if (!res.headersSent) answer(res, 502, render(502, `upstream failed: ${err.message}`, req));
    else if (!res.writableEnded) res.destroy(err);
  });
  const limit = options.maxBodyBytes;
  if (limit !== undefined) {
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit || refused) return;
      refused = true;
      req.unpipe(upstream);
      upstream.destroy();
      const message = `The request body must be at most ${limit} bytes, but more were sent`;
      refuse(req, res, 413, render(413, message, req));
    });
  }
  req.pipe(upstream);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!;
}
