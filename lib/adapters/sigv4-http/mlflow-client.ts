/**
 * The pipelines' MLflow port over HTTP: JSON over `fetch`, MLflow's error shape mapped to typed
 * errors, and optional SigV4 signing for a registry behind API Gateway with IAM auth. Independent
 * of Lambda; the handlers build it from their environment with {@link registryClient}.
 *
 * @example
 * const registry = registryClient(handlerEnv({ REGISTRY_URL: required, REGISTRY_AUTH: registryAuth }));
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { z } from 'zod';
import { RegistryError, RegistryUnavailableError } from '../../pipelines/errors';
import type { MlflowClient } from '../../pipelines/mlflow-client';

/** Adds authentication headers to a request about to be sent. */
export type RequestSigner = (request: {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}) => Promise<Record<string, string>>;

/** SigV4 for API Gateway (`execute-api`), with the Lambda's own credentials by default. */
export function sigv4Signer(options: {
  readonly region: string;
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
}): RequestSigner {
  const signer = new SignatureV4({
    service: 'execute-api',
    region: options.region,
    credentials: options.credentials ?? defaultProvider(),
    sha256: Sha256,
  });
  return async ({ method, url, headers, body }) => {
    const query: Record<string, string | string[]> = {};
    for (const [k, v] of url.searchParams) {
      const prev = query[k];
      query[k] = prev === undefined ? v : ([] as string[]).concat(prev, v);
    }
    const signed = await signer.sign(
      new HttpRequest({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query,
        headers: { ...headers, host: url.host },
        ...(body !== undefined ? { body } : {}),
      }),
    );
    return signed.headers as Record<string, string>;
  };
}

/** Options of {@link HttpMlflowClient}. */
export interface MlflowClientOptions {
  /** The registry's base URL; `api/2.0/mlflow/<endpoint>` is appended. */
  readonly baseUrl: string;
  /** @default - unsigned requests (a registry with `auth: none`, the local environment) */
  readonly signer?: RequestSigner;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

/**
 * The MLflow client over HTTP.
 *
 * @example
 * const client = new HttpMlflowClient({ baseUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod/', signer: sigv4Signer({ region }) });
 * const { registered_model } = await client.get('registered-models/get', { name: 'wine-quality' });
 */
export class HttpMlflowClient implements MlflowClient {
  private readonly base: string;

  constructor(private readonly options: MlflowClientOptions) {
    this.base = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`;
  }

  get<T = Record<string, unknown>>(endpoint: string, query: Record<string, string>): Promise<T> {
    return this.call<T>('GET', endpoint, { query });
  }

  post<T = Record<string, unknown>>(
    endpoint: string,
    body: Record<string, unknown>,
    headers: Record<string, string> = {},
  ): Promise<T> {
    return this.call<T>('POST', endpoint, { body, headers });
  }

  /** MLflow's DELETE endpoints (`registered-models/delete`, …) take a JSON body. */
  delete<T = Record<string, unknown>>(endpoint: string, body: Record<string, unknown>): Promise<T> {
    return this.call<T>('DELETE', endpoint, { body });
  }

  private async call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    endpoint: string,
    request: {
      query?: Record<string, string>;
      body?: Record<string, unknown>;
      headers?: Record<string, string>;
    },
  ): Promise<T> {
    const url = new URL(`api/2.0/mlflow/${endpoint}`, this.base);
    for (const [k, v] of Object.entries(request.query ?? {})) url.searchParams.append(k, v);
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    let headers: Record<string, string> = {
      accept: 'application/json',
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...request.headers,
    };
    if (this.options.signer) headers = await this.options.signer({ method, url, headers, body });
    let response: Response;
    try {
      response = await (this.options.fetch ?? fetch)(url, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
    } catch (err) {
      throw new RegistryUnavailableError(
        `${method} ${url.pathname} could not reach the registry: ${(err as Error).message}`,
      );
    }
    const text = await response.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // A gateway error page: reported with its status below.
    }
    if (response.ok) return json as T;
    const what = `${method} ${url.pathname} answered ${response.status}`;
    const detail =
      typeof json['message'] === 'string' ? `: ${json['message']}` : text ? `: ${text.slice(0, 200)}` : '';
    if (response.status === 429 || response.status >= 500)
      throw new RegistryUnavailableError(`${what}${detail}`);
    const code = typeof json['error_code'] === 'string' ? json['error_code'] : undefined;
    throw new RegistryError(`${what}${code ? ` ${code}` : ''}${detail}`, response.status, code);
  }
}

/** `REGISTRY_AUTH` in a handler's environment schema. */
export const registryAuth = z.enum(['iam', 'none']).default('iam');

/**
 * The registry client for `REGISTRY_URL`, signed with SigV4 when `REGISTRY_AUTH` is `iam`
 * (API Gateway with IAM auth) and unsigned when `none` (the local gateway); undefined when no
 * registry is configured.
 */
export function registryClient(env: {
  readonly REGISTRY_URL?: string | undefined;
  readonly REGISTRY_AUTH?: string | undefined;
  readonly AWS_REGION?: string | undefined;
}): HttpMlflowClient | undefined {
  const baseUrl = env.REGISTRY_URL;
  if (!baseUrl) return undefined;
  const auth = env.REGISTRY_AUTH ?? 'iam';
  if (auth !== 'iam' && auth !== 'none') {
    throw new Error(`REGISTRY_AUTH must be iam or none, but ${JSON.stringify(auth)} was provided`);
  }
  const region = env.AWS_REGION;
  if (auth === 'iam' && !region) throw new Error('REGISTRY_AUTH=iam needs AWS_REGION to sign requests');
  return new HttpMlflowClient({
    baseUrl,
    ...(auth === 'iam' ? { signer: sigv4Signer({ region: region! }) } : {}),
  });
}
