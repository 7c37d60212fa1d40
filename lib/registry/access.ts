/**
 * Who may do what on the registry's REST API, as plain data both sides read: the stacks turn
 * {@link ACCESS_ROUTES} into `execute-api:Invoke` resources per method and path (IAM decides before
 * the handler runs), and the handler classifies a request with {@link accessOf} to refuse a move into
 * Production from anyone but the release path ({@link ProductionGuard}).
 *
 * Three levels, each a set of MLflow endpoints:
 * - `read`: every `GET`, and the `POST` searches MLflow defines (`runs/search`, `experiments/search`,
 *   `registered-models/get-latest-versions`);
 * - `write`: creating, updating, logging, tagging and deleting models, versions, experiments and runs;
 * - `promote`: what changes which version serves: `model-versions/transition-stage` and setting or
 *   removing an alias (`registered-models/alias` `POST`/`DELETE`).
 *
 * @example
 * accessOf('POST', '/mlflow/runs/search'); // 'read'
 * accessOf('POST', '/mlflow/model-versions/transition-stage'); // 'promote'
 */

export const REGISTRY_ACCESS_LEVELS = ['read', 'write', 'promote'] as const;
export type RegistryAccess = (typeof REGISTRY_ACCESS_LEVELS)[number];

/** A method and a path under the API's `/api/2.0` (or `/ajax-api/2.0`) prefix; `*` matches anything. */
export interface AccessRoute {
  readonly method: string;
  readonly path: string;
}

/** `POST` endpoints that only read (MLflow puts their filters in a body). */
const READING_POSTS = new Set([
  '/mlflow/runs/search',
  '/mlflow/experiments/search',
  '/mlflow/registered-models/get-latest-versions',
]);

/** Endpoints (any method but `GET`) that change which version is served. */
const PROMOTING = new Set(['/mlflow/model-versions/transition-stage', '/mlflow/registered-models/alias']);

/** The access level an MLflow endpoint (after `/api/2.0`) needs for a method. */
export function accessOf(method: string, endpoint: string): RegistryAccess {
  const m = method.toUpperCase();
  if (m === 'GET' || (m === 'POST' && READING_POSTS.has(endpoint))) return 'read';
  return PROMOTING.has(endpoint) ? 'promote' : 'write';
}

/**
 * The IAM resource paths of each level, as few as cover its endpoints and no endpoint of another
 * level (an IAM policy holds about 10 KB; one ARN per endpoint would not fit a role with two levels).
 * `test/registry/access.test.ts` holds every served endpoint to exactly its own level's patterns.
 */
export const ACCESS_ROUTES: Readonly<Record<RegistryAccess, readonly AccessRoute[]>> = {
  read: [
    { method: 'GET', path: '/mlflow/*' },
    ...[...READING_POSTS].map((path) => ({ method: 'POST', path })),
  ],
  write: [
    // Every runs/ and experiments/ POST writes, but for their searches (read anyway).
    { method: 'POST', path: '/mlflow/runs/*' },
    { method: 'POST', path: '/mlflow/experiments/*' },
    { method: 'POST', path: '/mlflow/registered-models/create' },
    { method: 'POST', path: '/mlflow/registered-models/rename' },
    { method: 'POST', path: '/mlflow/registered-models/set-tag' },
    { method: 'POST', path: '/mlflow/model-versions/create' },
    { method: 'POST', path: '/mlflow/model-versions/set-tag' },
    { method: 'PATCH', path: '/mlflow/*' },
    // delete and delete-tag.
    { method: 'DELETE', path: '/mlflow/registered-models/delete*' },
    { method: 'DELETE', path: '/mlflow/model-versions/delete*' },
  ],
  promote: [
    { method: 'POST', path: '/mlflow/model-versions/transition-stage' },
    { method: 'POST', path: '/mlflow/registered-models/alias' },
    { method: 'DELETE', path: '/mlflow/registered-models/alias' },
  ],
};

/** The stage only the release path may move a version into where {@link ProductionGuard} is on. */
export const PRODUCTION_STAGE = 'Production';

/**
 * Who may move a version into Production (or point a promotion alias such as `champion`, which
 * deploys like Production does): the callers' role ARNs (`arn:aws:iam::<account>:role/<name>`).
 * API Gateway's IAM authorization puts the caller's session ARN
 * (`arn:aws:sts::<account>:assumed-role/<name>/<session>`) in the request context; the handler
 * passes it on as `HttpRequest.caller`.
 */
export interface ProductionGuard {
  readonly principals: readonly string[];
  /**
   * Aliases whose move deploys a version, guarded like the Production stage.
   * @default ['champion'] (the registry's promotion aliases)
   */
  readonly aliases?: readonly string[];
}

/**
 * Whether a caller (a session ARN, an IAM role or user ARN) is one of `principals` (role ARNs):
 * a role's session `arn:<p>:sts::<a>:assumed-role/<name>/<session>` is the role
 * `arn:<p>:iam::<a>:role/<name>` (roles with a path lose it in session ARNs; the name is unique).
 */
export function callerIsOneOf(caller: string | undefined, principals: readonly string[]): boolean {
  if (!caller) return false;
  const session = /^arn:([\w-]+):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(caller);
  const asRole = session ? `arn:${session[1]}:iam::${session[2]}:role/${session[3]}` : caller;
  return principals.some((p) => {
    if (p === asRole || p === caller) return true;
    const role = /^arn:([\w-]+):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(p);
    return role !== null && asRole === `arn:${role[1]}:iam::${role[2]}:role/${role[3]}`;
  });
}

/** Whether `path` matches an IAM resource pattern (`*` matches any run of characters, `/` too). */
export function routeMatches(pattern: string, path: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(path);
}
