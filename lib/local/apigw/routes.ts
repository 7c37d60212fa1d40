/**
 * REST APIs (API Gateway v1) from template resources → route tables for the local gateway.
 *
 * Pure. The resource tree is rebuilt from the `ParentId` / `ResourceId` / `RestApiId` references
 * structurally (`{Ref: X}`, `{Fn::GetAtt: [Api, RootResourceId]}`), because those are ids the
 * intrinsic resolver cannot know locally; everything else (the integration URI, names) goes
 * through the caller's resolver.
 */

/** A template resource: `{ Type, Properties }`. */
export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
}

/** What a route does. */
export type RouteIntegration =
  | {
      /** `AWS_PROXY` to a Lambda function. */
      readonly type: 'lambda-proxy';
      /** The function's name, from the resolved integration URI. */
      readonly functionName: string;
      /** The function's logical id, when the URI references it with `Fn::GetAtt`. */
      readonly functionLogicalId?: string;
    }
  | {
      /** `MOCK` (e.g. the CORS preflight CDK adds): a fixed status and headers. */
      readonly type: 'mock';
      readonly statusCode: number;
      readonly headers: Readonly<Record<string, string>>;
    }
  | {
      /**
       * An integration the local gateway cannot run (HTTP, VPC link, AWS service). The route
       * still exists, so its path is not a 403, and answers 502 until the lead maps it.
       */
      readonly type: 'unsupported';
      readonly integrationType: string;
    };

/** One method on one resource path. */
export interface ApiRoute {
  /** `GET`, `POST`, … or `ANY`. */
  readonly method: string;
  /** The resource path with its templates, e.g. `/models/{id}` or `/{proxy+}`. */
  readonly resourcePath: string;
  /** The resource's logical id (used as `requestContext.resourceId`). */
  readonly resourceId: string;
  readonly integration: RouteIntegration;
}

/** One REST API's routes and settings. */
export interface RestApiRoutes {
  readonly logicalId: string;
  readonly name?: string;
  /** The stage name from the template's Stage/Deployment. @default 'prod' */
  readonly stage: string;
  /** `BinaryMediaTypes`: request bodies of these types reach Lambda base64-encoded. */
  readonly binaryMediaTypes: readonly string[];
  readonly routes: readonly ApiRoute[];
}

type Resolve = (value: unknown) => unknown;

/**
 * Builds the route table of every `AWS::ApiGateway::RestApi` in `resources`.
 *
 * @example
 * const [api] = routesFromTemplate(template.Resources, resolve);
 * gateway.mount(`/${api.stage}`, api);
 */
export function routesFromTemplate(
  resources: Readonly<Record<string, TemplateResource>>,
  resolve: Resolve = (v) => v,
): RestApiRoutes[] {
  const entries = Object.entries(resources);
  const apis = entries.filter(([, r]) => r.Type === 'AWS::ApiGateway::RestApi');

  // logical id of a Resource → [api logical id, path]
  const paths = new Map<string, { api: string; path: string }>();
  const pathOf = (id: string, seen: Set<string> = new Set()): { api: string; path: string } => {
    const known = paths.get(id);
    if (known) return known;
    const resource = resources[id];
    if (resource?.Type !== 'AWS::ApiGateway::Resource') {
      throw new Error(`API Gateway resource ${id} is referenced but not defined in the template.`);
    }
    if (seen.has(id)) throw new Error(`API Gateway resource ${id} is its own ancestor.`);
    seen.add(id);
    const props = resource.Properties ?? {};
    const parent = referenceOf(props['ParentId']);
    const part = String(resolve(props['PathPart']));
    const base = parent.kind === 'root' ? { api: parent.api, path: '' } : pathOf(parent.id, seen);
    const result = { api: base.api, path: `${base.path}/${part}` };
    paths.set(id, result);
    return result;
  };

  return apis.map(([apiId, api]) => {
    const props = (api.Properties ?? {}) as Record<string, unknown>;
    const routes: ApiRoute[] = [];
    for (const [methodId, method] of entries) {
      if (method.Type !== 'AWS::ApiGateway::Method') continue;
      const m = method.Properties ?? {};
      const target = referenceOf(m['ResourceId']);
      const where = target.kind === 'root' ? { api: target.api, path: '' } : pathOf(target.id);
      const restApi = referenceOf(m['RestApiId']);
      const owner = restApi.kind === 'ref' ? restApi.id : where.api;
      if (owner !== apiId) continue;
      routes.push({
        method: String(resolve(m['HttpMethod'])).toUpperCase(),
        resourcePath: where.path === '' ? '/' : where.path,
        resourceId: target.kind === 'root' ? `${apiId}Root` : target.id,
        integration: integrationOf(
          methodId,
          m['Integration'] as Record<string, unknown> | undefined,
          resolve,
        ),
      });
    }
    const stage = entries.find(
      ([, r]) =>
        (r.Type === 'AWS::ApiGateway::Stage' || r.Type === 'AWS::ApiGateway::Deployment') &&
        refersTo(r.Properties?.['RestApiId'], apiId) &&
        r.Properties?.['StageName'] !== undefined,
    );
    const name = resolve(props['Name']);
    return {
      logicalId: apiId,
      ...(typeof name === 'string' ? { name } : {}),
      stage: stage ? String(resolve(stage[1].Properties?.['StageName'])) : 'prod',
      binaryMediaTypes: ((resolve(props['BinaryMediaTypes']) as string[] | undefined) ?? []).map(String),
      routes,
    };
  });
}

function integrationOf(
  methodId: string,
  integration: Record<string, unknown> | undefined,
  resolve: Resolve,
): RouteIntegration {
  const type = integration?.['Type'];
  if (type === 'MOCK') {
    const response =
      (integration?.['IntegrationResponses'] as Record<string, unknown>[] | undefined)?.[0] ?? {};
    const params = (resolve(response['ResponseParameters']) ?? {}) as Record<string, unknown>;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) {
      const header = /^method\.response\.header\.(.+)$/.exec(k);
      // Static values are single-quoted string literals ('*'); other mappings cannot apply locally.
      if (header && typeof v === 'string' && /^'.*'$/s.test(v)) headers[header[1]!] = v.slice(1, -1);
    }
    return { type: 'mock', statusCode: Number(response['StatusCode'] ?? 200), headers };
  }
  if (type !== 'AWS_PROXY') return { type: 'unsupported', integrationType: String(type) };
  const uri = resolve(integration?.['Uri']);
  const match =
    typeof uri === 'string' ? /:lambda:path\/2015-03-31\/functions\/(.+)\/invocations$/.exec(uri) : null;
  if (!match) {
    throw new Error(
      `Method ${methodId} must integrate a Lambda function, but its Uri resolved to ${JSON.stringify(uri)}.`,
    );
  }
  const arn = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)/.exec(match[1]!);
  const functionLogicalId = getAttArnIn(integration?.['Uri']);
  return {
    type: 'lambda-proxy',
    functionName: arn ? arn[1]! : match[1]!,
    ...(functionLogicalId ? { functionLogicalId } : {}),
  };
}

/** `{Ref: X}` → a resource; `{Fn::GetAtt: [Api, RootResourceId]}` → the API's root. */
function referenceOf(value: unknown): { kind: 'ref'; id: string } | { kind: 'root'; api: string } {
  const v = value as Record<string, unknown> | undefined;
  if (v && typeof v['Ref'] === 'string') return { kind: 'ref', id: v['Ref'] };
  const getAtt = v?.['Fn::GetAtt'];
  const parts = Array.isArray(getAtt) ? getAtt : typeof getAtt === 'string' ? getAtt.split('.') : undefined;
  if (parts && parts[1] === 'RootResourceId') return { kind: 'root', api: String(parts[0]) };
  throw new Error(
    `Expected {Ref} or {Fn::GetAtt: [api, RootResourceId]}, but ${JSON.stringify(value)} was provided.`,
  );
}

function refersTo(value: unknown, id: string): boolean {
  return (value as Record<string, unknown> | undefined)?.['Ref'] === id;
}

/** The logical id X of the first `{Fn::GetAtt: [X, 'Arn']}` inside `value`. */
function getAttArnIn(value: unknown): string | undefined {
  if (Array.isArray(value)) {
    for (const v of value) {
      const found = getAttArnIn(v);
      if (found) return found;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    const getAtt = (value as Record<string, unknown>)['Fn::GetAtt'];
    if (Array.isArray(getAtt) && getAtt[1] === 'Arn') return String(getAtt[0]);
    return getAttArnIn(Object.values(value));
  }
  return undefined;
}
