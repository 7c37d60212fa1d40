/**
 * What the pipeline steps ask of the MLflow registry (REST 2.0): the port, and the reading of
 * MLflow's error answers. The implementation, JSON over `fetch` with optional SigV4 signing for a
 * registry behind API Gateway with IAM auth, is `HttpMlflowClient` in lib/adapters/sigv4-http.
 *
 * @example
 * const registry: MlflowClient = registryClient(env)!;
 * const { registered_model } = await registry.get('registered-models/get', { name: 'wine-quality' });
 */
import { RegistryError } from './errors';

/**
 * MLflow REST 2.0 calls by endpoint (`registered-models/get`, …): the parsed JSON answer, or a
 * `RegistryError` carrying MLflow's `error_code` (`RegistryUnavailableError` for 429/5xx and
 * unreachable registries, which the state machine retries).
 */
export interface MlflowClient {
  get<T = Record<string, unknown>>(endpoint: string, query: Record<string, string>): Promise<T>;
  post<T = Record<string, unknown>>(
    endpoint: string,
    body: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<T>;
  /** MLflow's DELETE endpoints (`registered-models/delete`, …) take a JSON body. */
  delete<T = Record<string, unknown>>(endpoint: string, body: Record<string, unknown>): Promise<T>;
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
