/**
 * A small MLflow REST 2.0 client for the pipeline steps: JSON over `fetch`, MLflow's error shape
 * mapped to typed errors, and optional SigV4 signing for a registry behind API Gateway with IAM
 * auth. Independent of Lambda; the handlers pass the base URL and a signer.
 *
 * @example
 * const client = new MlflowClient({ baseUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod/', signer: sigv4Signer({ region }) });
 * const { registered_model } = await client.get('registered-models/get', { name: 'wine-quality' });
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { RegistryError, RegistryUnavailableError } from './errors';

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

export interface MlflowClientOptions {
  /** The registry's base URL; `api/2.0/mlflow/<endpoint>` is appended. */
  readonly baseUrl: string;
  /** @default - unsigned requests (a registry with `auth: none`, the local environment) */
  readonly signer?: RequestSigner;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

export class MlflowClient {
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

/** True for MLflow's "no such resource" answer. */
export const isNotFound = (err: unknown): boolean =>
  err instanceof RegistryError && (err.status === 404 || err.errorCode === 'RESOURCE_DOES_NOT_EXIST');

/**
 * True for MLflow's answer to a get-by-alias of an alias the (existing) model does not have: 400
 * `INVALID_PARAMETER_VALUE` "Registered model alias <alias> not found." — not a 404.
 */
export const isAliasNotFound = (err: unknown): boolean =>
  err instanceof RegistryError &&
  err.errorCode === 'INVALID_PARAMETER_VALUE' &&
  /alias .* not found/i.test(err.message);

/** True for MLflow's "already exists" answer (a concurrent create won the race). */
export const isAlreadyExists = (err: unknown): boolean =>
  err instanceof RegistryError && err.errorCode === 'RESOURCE_ALREADY_EXISTS';
