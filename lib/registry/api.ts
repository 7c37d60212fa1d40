/**
 * MLflow REST transport over the registry and tracking cores: routing, MLflow's request parsing and
 * validation rules, and its error shape. Independent of Lambda: the handler turns an API Gateway event
 * into an {@link HttpRequest} and the {@link HttpResponse} back.
 *
 * Deliberate differences from MLflow's Flask server, each in the client's favour:
 * - unknown paths answer 404 `ENDPOINT_NOT_FOUND` in the JSON error shape (Flask answers HTML);
 * - a known path with the wrong method answers 405 (with `Allow`) in the JSON error shape, code `BAD_REQUEST`;
 * - a body that is not JSON is rejected with 400 even on routes without required fields (MLflow reads it
 *   as `{}`, so a truncated `runs/create` would start a run in experiment 0). Where a required field
 *   exists, the message is MLflow's own "Missing value for required parameter …", as MLflow answers.
 */
import { z } from 'zod';
import { type ProductionGuard, callerIsOneOf, PRODUCTION_STAGE } from './access';
import { type ArtifactLister, assertSafeArtifactPath } from './artifacts';
import { invalidParameter, MlflowError, missingValue } from './errors';
import type { ModelRegistry } from './models';
import { RUN_STATUSES, type TrackingStore } from './tracking';
import { MAX_BATCH_REQUEST_BYTES } from './validation';

export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  /** Header names in any case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** Every value of every query parameter, decoded. */
  readonly query: Readonly<Record<string, readonly string[]>>;
  /** The body, already base64-decoded when the gateway encoded it. */
  readonly body?: string;
  /**
   * Who signed the request, as API Gateway's IAM authorization names it
   * (`requestContext.identity.userArn`); absent where the API is unauthenticated (local).
   */
  readonly caller?: string;
}

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export interface ApiServices {
  readonly registry: ModelRegistry;
  readonly tracking: TrackingStore;
  /** Serves `artifacts/list`; absent, the endpoint answers `NOT_IMPLEMENTED`. */
  readonly artifacts?: ArtifactLister;
  /** Receives unexpected errors (their stacks never reach the client). */
  readonly onInternalError?: (error: unknown, request: HttpRequest) => void;
  /**
   * Only these callers may move a version into Production or point a promotion alias
   * (`PERMISSION_DENIED`, 403, for anyone else).
   * @default - anyone the API lets in may
   */
  readonly productionGuard?: ProductionGuard;
}

/**
 * Opt-in header for idempotent model-version registration (see `ModelRegistry.createModelVersion`).
 * MLflow creates a new version on every call, and its clients rely on that; pipelines that may retry
 * a registration send `X-Mlops-Idempotent: true`.
 */
export const IDEMPOTENT_HEADER = 'x-mlops-idempotent';

/** Request bodies above this are refused before parsing (MLflow's `MAX_BATCH_REQUEST_BYTES`). */
export const MAX_BODY_BYTES = MAX_BATCH_REQUEST_BYTES;

// ---------------------------------------------------------------- field types

const INT_TEXT = /^\s*[+-]?\d+\s*$/;
const FLOAT_TEXT = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;

/** Field types: JSON values as protobuf's JSON parser accepts them, and their query-string form. */
const T = {
  string: z.string(),
  /** Versions are strings in MLflow's protos; numbers are accepted too, as the number's text. */
  version: z.union([z.string(), z.number().int().transform(String)]),
  int: z.union([z.number().int(), z.string().regex(INT_TEXT).transform(Number)]),
  double: z.union([z.number(), z.string().regex(FLOAT_TEXT).transform(Number)]),
  bool: z.union([
    z.boolean(),
    z.enum(['true', 'false', 'True', 'False']).transform((v) => v.toLowerCase() === 'true'),
  ]),
  strings: z.array(z.string()),
  tags: z.array(
    z.object({
      key: z.string(),
      value: z
        .string()
        .nullish()
        .transform((v) => v ?? undefined),
    }),
  ),
  metrics: z.array(
    z.object({
      key: z.string(),
      value: z.union([z.number(), z.string().regex(FLOAT_TEXT).transform(Number)]),
      timestamp: z.union([z.number().int(), z.string().regex(INT_TEXT).transform(Number)]),
      step: z
        .union([z.number().int(), z.string().regex(INT_TEXT).transform(Number)])
        .nullish()
        .transform((v) => v ?? undefined),
    }),
  ),
  runStatus: z.enum(RUN_STATUSES as [string, ...string[]]),
  viewType: z.enum(['ACTIVE_ONLY', 'DELETED_ONLY', 'ALL']),
} as const;

/** Fields whose query-string form is every value of a repeated key. */
const REPEATED: ReadonlySet<z.ZodType> = new Set<z.ZodType>([T.strings]);

interface Field {
  readonly type: z.ZodType;
  readonly required?: boolean;
}
type Fields = Record<string, Field>;
type Parsed<F extends Fields> = {
  [K in keyof F]: F[K]['required'] extends true ? z.output<F[K]['type']> : z.output<F[K]['type']> | undefined;
};

const req = <Z extends z.ZodType>(type: Z) => ({ type, required: true as const });
const opt = <Z extends z.ZodType>(type: Z) => ({ type });

interface Context {
  readonly services: ApiServices;
  readonly request: HttpRequest;
}

interface Route {
  readonly fields: Fields;
  readonly run: (params: Record<string, unknown>, ctx: Context) => Promise<object>;
}

/** Declares an endpoint: its fields in MLflow's validation order, and what it does. */
function route<F extends Fields>(
  fields: F,
  run: (params: Parsed<F>, ctx: Context) => Promise<object>,
): Route {
  return { fields, run: run as Route['run'] };
}

const empty = async (work: Promise<unknown>) => {
  await work;
  return {};
};

// ---------------------------------------------------------------- routes

const getLatestVersions = route({ name: req(T.string), stages: opt(T.strings) }, async (p, { services }) => ({
  model_versions: await services.registry.getLatestVersions({ name: p.name, stages: p.stages }),
}));

const searchExperiments = route(
  {
    max_results: opt(T.int),
    page_token: opt(T.string),
    filter: opt(T.string),
    order_by: opt(T.strings),
    view_type: opt(T.viewType),
  },
  (p, { services }) =>
    services.tracking.searchExperiments({
      maxResults: p.max_results,
      pageToken: p.page_token,
      filter: p.filter,
      orderBy: p.order_by,
      viewType: p.view_type as 'ALL' | undefined,
    }),
);

/** Endpoint path (after `/api/2.0`) → method → route. */
const ROUTES: Record<string, Record<string, Route>> = {
  '/mlflow/registered-models/create': {
    POST: route(
      { name: req(T.string), tags: opt(T.tags), description: opt(T.string) },
      async (p, { services }) => ({
        registered_model: await services.registry.createRegisteredModel({
          name: p.name,
          tags: p.tags?.map((t) => ({ key: t.key, value: t.value ?? '' })),
          description: p.description,
        }),
      }),
    ),
  },
  '/mlflow/registered-models/get': {
    GET: route({ name: req(T.string) }, async (p, { services }) => ({
      registered_model: await services.registry.getRegisteredModel(p.name),
    })),
  },
  '/mlflow/registered-models/rename': {
    POST: route({ name: req(T.string), new_name: req(T.string) }, async (p, { services }) => ({
      registered_model: await services.registry.renameRegisteredModel({ name: p.name, newName: p.new_name }),
    })),
  },
  '/mlflow/registered-models/update': {
    PATCH: route({ name: req(T.string), description: opt(T.string) }, async (p, { services }) => ({
      registered_model: await services.registry.updateRegisteredModel({
        name: p.name,
        description: p.description,
      }),
    })),
  },
  '/mlflow/registered-models/delete': {
    DELETE: route({ name: req(T.string) }, (p, { services }) =>
      empty(services.registry.deleteRegisteredModel(p.name)),
    ),
  },
  '/mlflow/registered-models/search': {
    GET: route(
      { filter: opt(T.string), max_results: opt(T.int), order_by: opt(T.strings), page_token: opt(T.string) },
      (p, { services }) =>
        services.registry.searchRegisteredModels({
          filter: p.filter,
          maxResults: p.max_results,
          orderBy: p.order_by,
          pageToken: p.page_token,
        }),
    ),
  },
  '/mlflow/registered-models/get-latest-versions': { POST: getLatestVersions, GET: getLatestVersions },
  '/mlflow/registered-models/set-tag': {
    POST: route({ name: req(T.string), key: req(T.string), value: opt(T.string) }, (p, { services }) =>
      empty(services.registry.setRegisteredModelTag({ name: p.name, key: p.key, value: p.value })),
    ),
  },
  '/mlflow/registered-models/delete-tag': {
    DELETE: route({ name: req(T.string), key: req(T.string) }, (p, { services }) =>
      empty(services.registry.deleteRegisteredModelTag({ name: p.name, key: p.key })),
    ),
  },
  '/mlflow/registered-models/alias': {
    POST: route({ name: req(T.string), alias: req(T.string), version: req(T.version) }, (p, { services }) =>
      empty(services.registry.setAlias({ name: p.name, alias: p.alias, version: p.version })),
    ),
    DELETE: route({ name: req(T.string), alias: req(T.string) }, (p, { services }) =>
      empty(services.registry.deleteAlias({ name: p.name, alias: p.alias })),
    ),
    GET: route({ name: req(T.string), alias: req(T.string) }, async (p, { services }) => ({
      model_version: await services.registry.getByAlias({ name: p.name, alias: p.alias }),
    })),
  },
  '/mlflow/model-versions/create': {
    POST: route(
      {
        name: req(T.string),
        source: req(T.string),
        run_id: opt(T.string),
        tags: opt(T.tags),
        run_link: opt(T.string),
        description: opt(T.string),
      },
      async (p, { services, request }) => ({
        model_version: await services.registry.createModelVersion(
          {
            name: p.name,
            source: p.source,
            runId: p.run_id,
            tags: p.tags?.map((t) => ({ key: t.key, value: t.value ?? '' })),
            runLink: p.run_link,
            description: p.description,
          },
          { idempotent: header(request, IDEMPOTENT_HEADER)?.toLowerCase() === 'true' },
        ),
      }),
    ),
  },
  '/mlflow/model-versions/get': {
    GET: route({ name: req(T.string), version: req(T.version) }, async (p, { services }) => ({
      model_version: await services.registry.getModelVersion({ name: p.name, version: p.version }),
    })),
  },
  '/mlflow/model-versions/update': {
    PATCH: route(
      { name: req(T.string), version: req(T.version), description: opt(T.string) },
      async (p, { services }) => ({
        model_version: await services.registry.updateModelVersion({
          name: p.name,
          version: p.version,
          description: p.description,
        }),
      }),
    ),
  },
  '/mlflow/model-versions/transition-stage': {
    POST: route(
      {
        name: req(T.string),
        version: req(T.version),
        stage: req(T.string),
        archive_existing_versions: opt(T.bool),
      },
      async (p, { services }) => ({
        model_version: await services.registry.transitionStage({
          name: p.name,
          version: p.version,
          stage: p.stage,
          archiveExistingVersions: p.archive_existing_versions ?? false,
        }),
      }),
    ),
  },
  '/mlflow/model-versions/delete': {
    DELETE: route({ name: req(T.string), version: req(T.version) }, (p, { services }) =>
      empty(services.registry.deleteModelVersion({ name: p.name, version: p.version })),
    ),
  },
  '/mlflow/model-versions/search': {
    GET: route(
      { filter: opt(T.string), max_results: opt(T.int), order_by: opt(T.strings), page_token: opt(T.string) },
      (p, { services }) =>
        services.registry.searchModelVersions({
          filter: p.filter,
          maxResults: p.max_results,
          orderBy: p.order_by,
          pageToken: p.page_token,
        }),
    ),
  },
  '/mlflow/model-versions/get-download-uri': {
    GET: route({ name: req(T.string), version: req(T.version) }, async (p, { services }) => ({
      artifact_uri: await services.registry.getDownloadUri({ name: p.name, version: p.version }),
    })),
  },
  '/mlflow/model-versions/set-tag': {
    POST: route(
      { name: req(T.string), version: req(T.version), key: req(T.string), value: opt(T.string) },
      (p, { services }) => empty(services.registry.setModelVersionTag(p)),
    ),
  },
  '/mlflow/model-versions/delete-tag': {
    DELETE: route({ name: req(T.string), version: req(T.version), key: req(T.string) }, (p, { services }) =>
      empty(services.registry.deleteModelVersionTag(p)),
    ),
  },
  '/mlflow/experiments/create': {
    POST: route(
      { name: req(T.string), artifact_location: opt(T.string), tags: opt(T.tags) },
      async (p, { services }) => ({
        experiment_id: await services.tracking.createExperiment({
          name: p.name,
          artifactLocation: p.artifact_location,
          tags: p.tags?.map((t) => ({ key: t.key, value: t.value ?? '' })),
        }),
      }),
    ),
  },
  '/mlflow/experiments/get': {
    GET: route({ experiment_id: req(T.string) }, async (p, { services }) => ({
      experiment: await services.tracking.getExperiment(p.experiment_id),
    })),
  },
  '/mlflow/experiments/get-by-name': {
    GET: route({ experiment_name: req(T.string) }, async (p, { services }) => ({
      experiment: await services.tracking.getExperimentByName(p.experiment_name),
    })),
  },
  '/mlflow/experiments/search': { POST: searchExperiments, GET: searchExperiments },
  '/mlflow/experiments/update': {
    POST: route({ experiment_id: req(T.string), new_name: opt(T.string) }, (p, { services }) =>
      empty(services.tracking.renameExperiment({ experimentId: p.experiment_id, newName: p.new_name })),
    ),
  },
  '/mlflow/experiments/delete': {
    POST: route({ experiment_id: req(T.string) }, (p, { services }) =>
      empty(services.tracking.deleteExperiment(p.experiment_id)),
    ),
  },
  '/mlflow/experiments/restore': {
    POST: route({ experiment_id: req(T.string) }, (p, { services }) =>
      empty(services.tracking.restoreExperiment(p.experiment_id)),
    ),
  },
  '/mlflow/experiments/set-experiment-tag': {
    POST: route(
      { experiment_id: req(T.string), key: req(T.string), value: opt(T.string) },
      (p, { services }) =>
        empty(services.tracking.setExperimentTag({ experimentId: p.experiment_id, key: p.key, value: p.value })),
    ),
  },
  '/mlflow/artifacts/list': {
    GET: route(
      { run_id: req(T.string), path: opt(T.string), page_token: opt(T.string) },
      async (p, { services }) => {
        // Checked before the run is read, as MLflow's handler does.
        if (p.path) assertSafeArtifactPath(p.path);
        if (!services.artifacts) {
          throw new MlflowError('NOT_IMPLEMENTED', 'artifacts/list is not configured on this server');
        }
        const rootUri = await services.tracking.runArtifactUri(p.run_id);
        const files = await services.artifacts.list(rootUri, p.path);
        return { root_uri: rootUri, ...(files.length && { files }) };
      },
    ),
  },
  '/mlflow/runs/create': {
    POST: route(
      {
        experiment_id: opt(T.string),
        user_id: opt(T.string),
        run_name: opt(T.string),
        start_time: opt(T.int),
        tags: opt(T.tags),
      },
      async (p, { services }) => ({
        run: await services.tracking.createRun({
          experimentId: p.experiment_id,
          userId: p.user_id,
          runName: p.run_name,
          startTime: p.start_time,
          tags: p.tags?.map((t) => ({ key: t.key, value: t.value ?? '' })),
        }),
      }),
    ),
  },
  '/mlflow/runs/update': {
    POST: route(
      { run_id: req(T.string), status: opt(T.runStatus), end_time: opt(T.int), run_name: opt(T.string) },
      async (p, { services }) => ({
        run_info: await services.tracking.updateRun({
          runId: p.run_id,
          status: p.status as 'RUNNING' | undefined,
          endTime: p.end_time,
          runName: p.run_name,
        }),
      }),
    ),
  },
  '/mlflow/runs/delete': {
    POST: route({ run_id: req(T.string) }, (p, { services }) => empty(services.tracking.deleteRun(p.run_id))),
  },
  '/mlflow/runs/restore': {
    POST: route({ run_id: req(T.string) }, (p, { services }) => empty(services.tracking.restoreRun(p.run_id))),
  },
  '/mlflow/runs/delete-tag': {
    POST: route({ run_id: req(T.string), key: req(T.string) }, (p, { services }) =>
      empty(services.tracking.deleteTag({ runId: p.run_id, key: p.key })),
    ),
  },
  '/mlflow/runs/log-metric': {
    POST: route(
      {
        run_id: req(T.string),
        key: req(T.string),
        value: req(T.double),
        timestamp: req(T.int),
        step: opt(T.int),
      },
      (p, { services }) =>
        empty(
          services.tracking.logMetric({
            runId: p.run_id,
            key: p.key,
            value: p.value,
            timestamp: p.timestamp,
            step: p.step,
          }),
        ),
    ),
  },
  '/mlflow/runs/log-parameter': {
    POST: route({ run_id: req(T.string), key: req(T.string), value: opt(T.string) }, (p, { services }) =>
      empty(services.tracking.logParam({ runId: p.run_id, key: p.key, value: p.value })),
    ),
  },
  '/mlflow/runs/log-batch': {
    POST: route(
      { run_id: req(T.string), metrics: opt(T.metrics), params: opt(T.tags), tags: opt(T.tags) },
      (p, { services }) =>
        empty(
          services.tracking.logBatch({
            runId: p.run_id,
            metrics: p.metrics?.map((m) => ({ ...m, step: m.step ?? 0 })),
            params: p.params?.map((t) => ({ key: t.key, value: t.value ?? '' })),
            tags: p.tags?.map((t) => ({ key: t.key, value: t.value ?? '' })),
          }),
        ),
    ),
  },
  '/mlflow/runs/set-tag': {
    POST: route({ run_id: req(T.string), key: req(T.string), value: opt(T.string) }, (p, { services }) =>
      empty(services.tracking.setTag({ runId: p.run_id, key: p.key, value: p.value })),
    ),
  },
  '/mlflow/runs/get': {
    GET: route({ run_id: req(T.string) }, async (p, { services }) => ({
      run: await services.tracking.getRun(p.run_id),
    })),
  },
  '/mlflow/runs/search': {
    POST: route(
      {
        experiment_ids: opt(T.strings),
        filter: opt(T.string),
        run_view_type: opt(T.viewType),
        max_results: opt(T.int),
        order_by: opt(T.strings),
        page_token: opt(T.string),
      },
      (p, { services }) =>
        services.tracking.searchRuns({
          experimentIds: p.experiment_ids,
          filter: p.filter,
          runViewType: p.run_view_type as 'ALL' | undefined,
          maxResults: p.max_results,
          orderBy: p.order_by,
          pageToken: p.page_token,
        }),
    ),
  },
  '/mlflow/metrics/get-history': {
    GET: route(
      {
        run_id: req(T.string),
        metric_key: req(T.string),
        max_results: opt(T.int),
        page_token: opt(T.string),
      },
      (p, { services }) =>
        services.tracking.getMetricHistory({
          runId: p.run_id,
          metricKey: p.metric_key,
          maxResults: p.max_results,
          pageToken: p.page_token,
        }),
    ),
  },
};

/** Every served endpoint (after the `/api/2.0` prefix) with its methods, e.g. for the API's docs. */
export const MLFLOW_ENDPOINTS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  Object.entries(ROUTES).map(([path, methods]) => [path, Object.keys(methods)]),
);

// ---------------------------------------------------------------- request handling

/**
 * Answers one MLflow REST request. Never throws: every failure becomes MLflow's error shape.
 *
 * @example
 * const res = await handleMlflowRequest(
 *   { method: 'GET', path: '/api/2.0/mlflow/registered-models/get', headers: {}, query: { name: ['fraud'] } },
 *   { registry, tracking },
 * );
 * // res.statusCode === 200, JSON.parse(res.body).registered_model.name === 'fraud'
 */
export async function handleMlflowRequest(
  request: HttpRequest,
  services: ApiServices,
): Promise<HttpResponse> {
  try {
    const endpoint = endpointOf(request.path);
    const methods = endpoint === undefined ? undefined : ROUTES[endpoint];
    if (!methods) {
      throw new MlflowError(
        'ENDPOINT_NOT_FOUND',
        `No API endpoint found for ${request.method} ${request.path}`,
      );
    }
    const method = request.method.toUpperCase();
    const target = methods[method];
    if (!target) {
      const allowed = Object.keys(methods).join(', ');
      return respond(
        405,
        {
          error_code: 'BAD_REQUEST',
          message: `The method ${method} is not allowed for ${request.path}. Allowed methods: ${allowed}.`,
        },
        { Allow: allowed },
      );
    }
    const raw = readParams(request, method, target.fields, endpoint === '/mlflow/runs/log-batch');
    const params = validate(target.fields, raw.params);
    if (raw.malformed) throw invalidParameter('Malformed request body: it must be a JSON object.');
    if (services.productionGuard) guardProduction(services.productionGuard, endpoint!, method, params, request.caller);
    return respond(200, await target.run(params, { services, request }));
  } catch (error) {
    if (error instanceof MlflowError) return respond(error.httpStatus, error.toJSON());
    const name = (error as { name?: string }).name;
    if (name === 'ValidationException' && /item size/i.test(String((error as Error).message))) {
      // DynamoDB's 400 KB item limit, reached by oversized tags or descriptions: the client's input.
      return respond(400, {
        error_code: 'INVALID_PARAMETER_VALUE',
        message: 'The entity is too large to store.',
      });
    }
    services.onInternalError?.(error, request);
    return respond(500, {
      error_code: 'INTERNAL_ERROR',
      message: 'Internal error. The request id is in the logs.',
    });
  }
}

/**
 * Refuses a move into Production (or of a promotion alias) by a caller the guard does not name:
 * in production that is everyone but the release machine, so a version gets there only through the
 * release path and its approval. IAM already keeps `promote` from other roles; this holds even for
 * a role someone grants `promote` by hand.
 */
function guardProduction(
  guard: ProductionGuard,
  endpoint: string,
  method: string,
  params: Record<string, unknown>,
  caller: string | undefined,
): void {
  const aliases = guard.aliases ?? ['champion'];
  const what =
    endpoint === '/mlflow/model-versions/transition-stage' &&
    String(params.stage).toLowerCase() === PRODUCTION_STAGE.toLowerCase()
      ? `moving a version to ${PRODUCTION_STAGE}`
      : endpoint === '/mlflow/registered-models/alias' && method !== 'GET' && aliases.includes(String(params.alias))
        ? `moving the ${String(params.alias)} alias`
        : undefined;
  if (what === undefined || callerIsOneOf(caller, guard.principals)) return;
  throw new MlflowError(
    'PERMISSION_DENIED',
    `${what} must go through the release path (${guard.principals.join(', ')}), but ${caller ?? 'an unidentified caller'} was provided`,
  );
}

function endpointOf(path: string): string | undefined {
  // Anchored at the end only, so a custom-domain base path in front (`/ml/api/2.0/...`) still routes.
  return /\/(?:ajax-)?api\/2\.0(?:\/preview)?(\/mlflow\/[^?]*?)\/*$/.exec(path)?.[1];
}

const header = (request: HttpRequest, name: string): string | undefined =>
  Object.entries(request.headers).find(([k]) => k.toLowerCase() === name)?.[1];

/** Reads parameters the way MLflow does: the query string for GET, the JSON body otherwise. */
function readParams(
  request: HttpRequest,
  method: string,
  fields: Fields,
  isBatch: boolean,
): { params: Record<string, unknown>; malformed: boolean } {
  const body = request.body ?? '';
  const size = Buffer.byteLength(body, 'utf8');
  if (size > MAX_BODY_BYTES) {
    throw invalidParameter(
      isBatch
        ? `Batched logging API requests must be at most ${MAX_BODY_BYTES} bytes, got a request of size ${size}.`
        : `Requests must be at most ${MAX_BODY_BYTES} bytes, got a request of size ${size}.`,
    );
  }
  if (method === 'POST' || method === 'PUT') {
    const contentType = header(request, 'content-type');
    if (contentType === undefined || contentType.trim() === '') {
      throw invalidParameter('Bad Request. Content-Type header is missing.');
    }
    if (contentType.split(';')[0]!.trim().toLowerCase() !== 'application/json') {
      throw invalidParameter("Bad Request. Content-Type must be one of ['application/json'].");
    }
  }
  if (method === 'GET' || (body.trim() === '' && Object.keys(request.query).length > 0)) {
    // Repeated fields take every value of their key, singular ones the first (Flask's `args.get`).
    const params: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(fields)) {
      const values = request.query[name];
      if (values && values.length > 0) params[name] = REPEATED.has(field.type) ? [...values] : values[0];
    }
    if ('run_id' in fields && request.query['run_uuid']?.length) params['run_uuid'] = request.query['run_uuid'][0];
    return { params, malformed: false };
  }
  if (body.trim() === '') return { params: {}, malformed: false };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
    // Older clients double-encode the body as a JSON string; MLflow decodes it a second time.
    if (typeof parsed === 'string') parsed = JSON.parse(parsed);
  } catch {
    return { params: {}, malformed: true };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    return { params: {}, malformed: true };
  return { params: parsed as Record<string, unknown>, malformed: false };
}

/** Validates fields in declaration order and reports the first failure in MLflow's words. */
function validate(fields: Fields, raw: Record<string, unknown>): Record<string, unknown> {
  const input = { ...raw };
  // MLflow reads `run_uuid` (deprecated) wherever `run_id` is absent.
  if (
    'run_id' in fields &&
    (input.run_id === undefined || input.run_id === null) &&
    input.run_uuid !== undefined
  ) {
    input.run_id = input.run_uuid;
  }
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(fields)) {
    const value = input[name];
    if (value === undefined || value === null || value === '') {
      if (field.required) throw missingValue(name);
      continue;
    }
    const result = field.type.safeParse(value);
    if (!result.success) {
      throw invalidParameter(
        `Invalid value ${pythonJson(value)} for parameter '${name}' supplied: Hint: Value was of type '${pythonType(value)}'. ` +
          'See the API docs for more information about request parameters.',
      );
    }
    out[name] = result.data;
  }
  return out;
}

/** `json.dumps` formatting, so messages read as MLflow's. */
function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${pythonJson(v)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value);
}

function pythonType(value: unknown): string {
  if (Array.isArray(value)) return 'list';
  if (value === null) return 'NoneType';
  switch (typeof value) {
    case 'string':
      return 'str';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(value) ? 'int' : 'float';
    default:
      return 'dict';
  }
}

function respond(statusCode: number, body: object, headers: Record<string, string> = {}): HttpResponse {
  return {
    statusCode,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}
