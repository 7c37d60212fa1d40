/**
 * A small Kubernetes REST client: the few calls the deployer makes (get, list, create, replace,
 * merge-patch), behind a {@link KubernetesTransport} port. {@link httpTransport} speaks HTTPS to the
 * EKS API with the cluster's CA and a bearer token from {@link eksToken}; tests point it at a
 * loopback server over plain HTTP.
 *
 * @example
 * const k8s = new KubernetesClient(httpTransport({
 *   endpoint: process.env.CLUSTER_ENDPOINT!, caData: process.env.CLUSTER_CA!,
 *   token: () => eksToken({ clusterName: 'mlops-staging', region: 'us-east-1' }),
 * }));
 * await k8s.apply(configMap);
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Sha256 } from '@aws-crypto/sha256-js';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { KubernetesObject } from './seldon';

export interface KubernetesResponse {
  readonly status: number;
  readonly body: unknown;
}

/** One HTTP exchange with the API server; JSON in, parsed JSON (or text) out. */
export interface KubernetesTransport {
  send(method: string, path: string, body?: unknown, contentType?: string): Promise<KubernetesResponse>;
}

/** A failed API call, with the API server's `Status` reason and message. */
export class KubernetesError extends Error {
  override readonly name = 'KubernetesError';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

interface StatusBody {
  reason?: string;
  message?: string;
}

/** The REST path of a namespaced object, or of its collection when `name` is omitted. */
export function objectPath(apiVersion: string, plural: string, namespace: string, name?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const collection = `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
  return name === undefined ? collection : `${collection}/${encodeURIComponent(name)}`;
}

const PLURALS: Record<string, string> = {
  SeldonDeployment: 'seldondeployments',
  ConfigMap: 'configmaps',
  Deployment: 'deployments',
  Service: 'services',
};

/** The REST path of an object from its own `apiVersion`, `kind` and metadata. */
export function pathOf(object: KubernetesObject, withName = true): string {
  const plural = PLURALS[object.kind];
  if (plural === undefined)
    throw new Error(
      `kind must be one of ${Object.keys(PLURALS).join(', ')}, but ${object.kind} was provided`,
    );
  const namespace = object.metadata.namespace;
  if (namespace === undefined)
    throw new Error(`${object.kind} ${object.metadata.name} must have a namespace`);
  return objectPath(object.apiVersion, plural, namespace, withName ? object.metadata.name : undefined);
}

export type ApplyResult = 'created' | 'replaced';

export class KubernetesClient {
  constructor(private readonly transport: KubernetesTransport) {}

  /** The object at `path`, or `undefined` when it does not exist (404). */
  async get<T = KubernetesObject>(path: string): Promise<T | undefined> {
    const res = await this.transport.send('GET', path);
    if (res.status === 404) return undefined;
    return this.expect<T>(res, 'GET', path);
  }

  /** The items of a collection, optionally filtered by a label selector. */
  async list<T = KubernetesObject>(path: string, labelSelector?: string): Promise<T[]> {
    const query = labelSelector === undefined ? '' : `?labelSelector=${encodeURIComponent(labelSelector)}`;
    const res = await this.transport.send('GET', `${path}${query}`);
    return (this.expect<{ items?: T[] }>(res, 'GET', path).items ?? []) as T[];
  }

  /**
   * Creates the object; when it exists (409) replaces it with the live `resourceVersion`, so a
   * concurrent writer makes the replace fail (409) instead of being silently overwritten.
   */
  async apply(object: KubernetesObject): Promise<ApplyResult> {
    const created = await this.transport.send('POST', pathOf(object, false), object);
    if (created.status === 200 || created.status === 201) return 'created';
    if (created.status !== 409) this.expect(created, 'POST', pathOf(object, false));
    const path = pathOf(object);
    const live = await this.get(path);
    if (live === undefined)
      throw new KubernetesError(409, 'Conflict', `${path} exists and vanished while being replaced; retry`);
    const body = {
      ...object,
      metadata: { ...object.metadata, resourceVersion: live.metadata.resourceVersion },
    };
    this.expect(await this.transport.send('PUT', path, body), 'PUT', path);
    return 'replaced';
  }

  /** Applies a JSON merge patch (RFC 7386) to the object at `path`. */
  async mergePatch(path: string, patch: unknown): Promise<void> {
    this.expect(
      await this.transport.send('PATCH', path, patch, 'application/merge-patch+json'),
      'PATCH',
      path,
    );
  }

  private expect<T>(res: KubernetesResponse, method: string, path: string): T {
    if (res.status >= 200 && res.status < 300) return res.body as T;
    const status = (typeof res.body === 'object' && res.body !== null ? res.body : {}) as StatusBody;
    const message = status.message ?? (typeof res.body === 'string' ? res.body : JSON.stringify(res.body));
    throw new KubernetesError(
      res.status,
      status.reason ?? `HTTP ${res.status}`,
      `${method} ${path} failed with ${res.status} ${status.reason ?? ''}: ${message}`.replace(/ +:/, ':'),
    );
  }
}

export interface HttpTransportOptions {
  /** `https://…` (the EKS endpoint) or `http://127.0.0.1:port` (tests). */
  readonly endpoint: string;
  /** The cluster CA, base64-encoded PEM as EKS reports it. @default - the system's CAs */
  readonly caData?: string;
  /** A bearer token per request (tokens expire; {@link eksToken} makes a fresh one). @default - none */
  readonly token?: () => Promise<string>;
  /** @default 10000 */
  readonly timeoutMs?: number;
}

/**
 * The transport over `node:http(s)` (fetch cannot take a private CA without an extra dependency).
 */
export function httpTransport(options: HttpTransportOptions): KubernetesTransport {
  const base = new URL(options.endpoint);
  const ca =
    options.caData === undefined ? undefined : Buffer.from(options.caData, 'base64').toString('utf8');
  return {
    async send(method, path, body, contentType = 'application/json') {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (options.token !== undefined) headers.authorization = `Bearer ${await options.token()}`;
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      if (payload !== undefined) {
        headers['content-type'] = contentType;
        headers['content-length'] = String(payload.length);
      }
      const url = new URL(path, base);
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      return new Promise<KubernetesResponse>((resolve, reject) => {
        const req = send(
          url,
          { method, headers, ...(ca === undefined ? {} : { ca }), timeout: options.timeoutMs ?? 10_000 },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              let parsed: unknown = text;
              try {
                parsed = text === '' ? undefined : JSON.parse(text);
              } catch {
                // Not JSON (a proxy's error page): keep the text for the error message.
              }
              resolve({ status: res.statusCode ?? 0, body: parsed });
            });
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname} timed out`)));
        req.on('error', reject);
        req.end(payload);
      });
    },
  };
}

export interface EksTokenOptions {
  readonly clusterName: string;
  readonly region: string;
  /** @default - the default credential chain (the Lambda's role) */
  readonly credentials?: ConstructorParameters<typeof SignatureV4>[0]['credentials'];
  /** @default new Date() */
  readonly now?: Date;
}

/**
 * An EKS bearer token: `k8s-aws-v1.` + base64url of a presigned STS `GetCallerIdentity` URL bound to
 * the cluster by the signed `x-k8s-aws-id` header (what `aws eks get-token` prints). The API server
 * calls STS with it to learn the caller's IAM identity, then maps that to the access entry.
 *
 * @example
 * const token = await eksToken({ clusterName: 'mlops-production', region: 'eu-west-1' });
 */
export async function eksToken(options: EksTokenOptions): Promise<string> {
  const signer = new SignatureV4({
    service: 'sts',
    region: options.region,
    sha256: Sha256,
    credentials: options.credentials ?? defaultProvider(),
  });
  const hostname = `sts.${options.region}.amazonaws.com`;
  const presigned = await signer.presign(
    new HttpRequest({
      method: 'GET',
      protocol: 'https:',
      hostname,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: hostname, 'x-k8s-aws-id': options.clusterName },
    }),
    { expiresIn: 60, ...(options.now === undefined ? {} : { signingDate: options.now }) },
  );
  const query = Object.entries(presigned.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  const url = `https://${hostname}/?${query}`;
  return `k8s-aws-v1.${Buffer.from(url).toString('base64url')}`;
}
