/**
 * Serving in the local environment: the stand-in for EKS + Seldon Core, the one edge of the
 * platform with no local engine. A promoted model version becomes a deployment — the kit's real
 * model server, in-process on a loopback port, loading the artifact from the local lake — and the
 * front door routes `/seldon/<namespace>/<deployment>/…` and `/v2/models/<model>/…` to it, the
 * same paths as behind API Gateway on AWS.
 *
 * A redeploy starts the new server first and only then retires the old one, so requests never
 * see a gap.
 *
 * @example
 * const serving = new LocalServing({ s3Endpoint, region, requestLogDir });
 * await serving.deploy({ namespace: 'seldon', deployment: 'wine-quality', modelUri: 's3://…/model.tar.gz', version: '1' });
 */
import { type ClientRequest, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { s3Client } from '../adapters/clients';
import { type S3Objects, s3Objects } from '../adapters/s3/objects';
import { resolveEnvironment } from '../config';
import {
  compileModel,
  DEFAULT_MAX_BODY_BYTES,
  DirectorySink,
  loadModel,
  type ModelServer,
  oipErrorBody,
  RequestLogger,
  SinkFullError,
  seldonErrorBody,
  startModelServer,
} from '../serving';
import { answer, decodePercent, type ErrorAnswer, type ErrorRenderer, refuse } from './http-guard';
import { MAX_PAYLOAD_BYTES } from './apigw';

/**
 * The front door's limits, API Gateway's (REST, Regional): a URL of at most 10,240 characters and
 * 10,240 bytes of headers; bodies up to the model server's limit on serving's paths and API
 * Gateway's 10 MiB elsewhere.
 */
export const FRONT_DOOR_LIMITS = {
  maxUrlLength: 10_240,
  maxHeaderBytes: 10_240,
  maxBodyBytes: (req: IncomingMessage): number =>
    isServingPath(pathOf(req)) ? DEFAULT_MAX_BODY_BYTES : MAX_PAYLOAD_BYTES,
} as const;

/** Errors the front door answers itself, in the protocol of the route asked for. */
export const frontDoorError: ErrorRenderer = (status, message, req) => {
  const path = req ? pathOf(req) : '';
  const body = path.startsWith('/seldon/')
    ? seldonErrorBody(message, status >= 500 ? 'MICROSERVICE_INTERNAL_ERROR' : 'MICROSERVICE_BAD_DATA')
    : path === '/v2' || path.startsWith('/v2/')
      ? oipErrorBody(message)
      : JSON.stringify({ message });
  return { contentType: 'application/json', body };
};

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
  }): Promise<Deployment> {
    const key = `${d.namespace}/${d.deployment}`;
    const current = this.servers.get(key)?.deployment;
    // Stage and alias promotions of one version both arrive: serving it once is enough.
    if (current && current.version === d.version && current.modelUri === d.modelUri) return current;
    const model = await loadModel(d.modelUri, { objects: this.objects });
    const name = d.modelName ?? d.deployment;
    let lastReport = 0;
    const logger = this.options.requestLogDir
      ? new RequestLogger({
          sink: new DirectorySink(`${this.options.requestLogDir}/${d.deployment}`, {
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

  /** Routes a request whose path starts with /seldon/ or /v2; false when it is not serving's. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = pathOf(req);
    let target: ModelServer | undefined;
    if (path.startsWith('/seldon/')) {
      const [, , ns, dep] = path.split('/');
      target = this.servers.get(`${ns}/${dep}`)?.server;
      if (!target) {
        sendJson(res, 404, {
          status: {
            code: -1,
            info: `no deployment ${ns}/${dep} is being served locally`,
            reason: 'NOT_FOUND',
            status: 'FAILURE',
          },
        });
        return true;
      }
    } else if (path === '/v2' || path.startsWith('/v2/')) {
      const encoded = /^\/v2\/models\/([^/]+)/.exec(path)?.[1];
      const model = encoded === undefined ? undefined : decodePercent(encoded);
      if (encoded !== undefined && model === undefined) {
        sendJson(res, 400, {
          error: `The model name must be a valid percent-encoded UTF-8 string, but ${encoded} was provided`,
        });
        return true;
      }
      const entries = [...this.servers.values()];
      target = model
        ? entries.find((e) => e.deployment.modelName === model)?.server
        : entries[0]?.server;
      if (!target) {
        sendJson(res, 404, { error: model ? `Model ${model} not found` : 'no model is being served' });
        return true;
      }
    } else {
      return false;
    }
    proxy(req, res, target.url, { maxBodyBytes: DEFAULT_MAX_BODY_BYTES, error: frontDoorError });
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

function isServingPath(path: string): boolean {
  return path.startsWith('/seldon/') || path === '/v2' || path.startsWith('/v2/');
}
