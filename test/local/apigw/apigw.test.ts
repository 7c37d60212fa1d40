import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type IncomingHttpHeaders, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiGateway,
  type InvokeOutcome,
  type RestApiRoutes,
  routesFromTemplate,
  startApiGateway,
} from '../../../lib/local/apigw';
import { LambdaEngine } from '../../../lib/local/lambda';

// The shape CDK synthesizes for a RestApi with /models, /models/{id}, /{proxy+} and CORS preflight.
const uri = (fn: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':apigateway:',
      { Ref: 'AWS::Region' },
      ':lambda:path/2015-03-31/functions/',
      { 'Fn::GetAtt': [fn, 'Arn'] },
      '/invocations',
    ],
  ],
});
const proxy = (fn: string) => ({ Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST', Uri: uri(fn) });
const template = {
  Api: { Type: 'AWS::ApiGateway::RestApi', Properties: { Name: 'ml-api', BinaryMediaTypes: ['image/png'] } },
  ApiDeployment: { Type: 'AWS::ApiGateway::Deployment', Properties: { RestApiId: { Ref: 'Api' } } },
  ApiStage: { Type: 'AWS::ApiGateway::Stage', Properties: { RestApiId: { Ref: 'Api' }, StageName: 'v1' } },
  ApiModels: {
    Type: 'AWS::ApiGateway::Resource',
    Properties: {
      ParentId: { 'Fn::GetAtt': ['Api', 'RootResourceId'] },
      PathPart: 'models',
      RestApiId: { Ref: 'Api' },
    },
  },
  ApiModelsId: {
    Type: 'AWS::ApiGateway::Resource',
    Properties: { ParentId: { Ref: 'ApiModels' }, PathPart: '{id}', RestApiId: { Ref: 'Api' } },
  },
  ApiModelsLatest: {
    Type: 'AWS::ApiGateway::Resource',
    Properties: { ParentId: { Ref: 'ApiModels' }, PathPart: 'latest', RestApiId: { Ref: 'Api' } },
  },
  ApiProxy: {
    Type: 'AWS::ApiGateway::Resource',
    Properties: {
      ParentId: { 'Fn::GetAtt': ['Api', 'RootResourceId'] },
      PathPart: '{proxy+}',
      RestApiId: { Ref: 'Api' },
    },
  },
  ApiRootGET: {
    Type: 'AWS::ApiGateway::Method',
    Properties: {
      HttpMethod: 'GET',
      ResourceId: { 'Fn::GetAtt': ['Api', 'RootResourceId'] },
      RestApiId: { Ref: 'Api' },
      Integration: proxy('Health'),
    },
  },
  ApiModelsGET: {
    Type: 'AWS::ApiGateway::Method',
    Properties: {
      HttpMethod: 'GET',
      ResourceId: { Ref: 'ApiModels' },
      RestApiId: { Ref: 'Api' },
      Integration: proxy('ListModels'),
    },
  },
  ApiModelsOPTIONS: {
    Type: 'AWS::ApiGateway::Method',
    Properties: {
      HttpMethod: 'OPTIONS',
      ResourceId: { Ref: 'ApiModels' },
      RestApiId: { Ref: 'Api' },
      Integration: {
        Type: 'MOCK',
        IntegrationResponses: [
          {
            StatusCode: '204',
            ResponseParameters: {
              'method.response.header.Access-Control-Allow-Origin': "'*'",
              'method.response.header.Access-Control-Allow-Methods': "'GET,POST'",
            },
          },
        ],
      },
    },
  },
  ApiModelsIdPOST: {
    Type: 'AWS::ApiGateway::Method',
    Properties: {
      HttpMethod: 'POST',
      ResourceId: { Ref: 'ApiModelsId' },
      RestApiId: { Ref: 'Api' },
      Integration: proxy('Predict'),
    },
  },
  ApiModelsLatestPOST: {
    Type: 'AWS::ApiGateway::Method',
    Properties: {
      HttpMethod: 'POST',
      ResourceId: { Ref: 'ApiModelsLatest' },
      RestApiId: { Ref: 'Api' },
      Integration: proxy('PredictLatest'),
    },
  },
  ApiProxyANY: {
    Type: 'AWS::ApiGateway::Method',
    Properties: {
      HttpMethod: 'ANY',
      ResourceId: { Ref: 'ApiProxy' },
      RestApiId: { Ref: 'Api' },
      Integration: proxy('Fallback'),
    },
  },
  Health: { Type: 'AWS::Lambda::Function', Properties: {} },
};
// A stand-in for the intrinsic resolver: enough for this template.
const resolve = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(resolve);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (o['Ref'] === 'AWS::Partition') return 'aws';
    if (o['Ref'] === 'AWS::Region') return 'eu-west-1';
    const getAtt = o['Fn::GetAtt'] as [string, string] | undefined;
    if (getAtt?.[1] === 'Arn')
      return `arn:aws:lambda:eu-west-1:123456789012:function:local-${getAtt[0].toLowerCase()}`;
    const join = o['Fn::Join'] as [string, unknown[]] | undefined;
    if (join) return (resolve(join[1]) as string[]).join(join[0]);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolve(x)]));
  }
  return v;
};

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}
function call(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string | string[]>; body?: Buffer | string } = {},
): Promise<Reply> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolvePromise({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('routesFromTemplate', () => {
  it('builds paths from ParentId chains, with methods, functions, stage and mocks', () => {
    const [api] = routesFromTemplate(template, resolve);
    expect(api).toMatchObject({
      logicalId: 'Api',
      name: 'ml-api',
      stage: 'v1',
      binaryMediaTypes: ['image/png'],
    });
    const summary = api!.routes.map((r) => [
      r.method,
      r.resourcePath,
      r.integration.type === 'lambda-proxy'
        ? r.integration.functionName
        : r.integration.type === 'mock'
          ? r.integration.statusCode
          : r.integration.integrationType,
    ]);
    expect(summary).toEqual([
      ['GET', '/', 'local-health'],
      ['GET', '/models', 'local-listmodels'],
      ['OPTIONS', '/models', 204],
      ['POST', '/models/{id}', 'local-predict'],
      ['POST', '/models/latest', 'local-predictlatest'],
      ['ANY', '/{proxy+}', 'local-fallback'],
    ]);
    expect(api!.routes[1]!.integration).toMatchObject({ functionLogicalId: 'ListModels' });
    expect(api!.routes[2]!.integration).toEqual({
      type: 'mock',
      statusCode: 204,
      headers: { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Methods': 'GET,POST' },
    });
  });

  it('keeps routes with integrations it cannot run, marked unsupported', () => {
    const vpcLink = {
      ...template,
      ApiRootGET: {
        ...template.ApiRootGET,
        Properties: {
          ...template.ApiRootGET.Properties,
          Integration: { Type: 'HTTP_PROXY', ConnectionType: 'VPC_LINK', Uri: 'http://nlb' },
        },
      },
    };
    const [api] = routesFromTemplate(vpcLink, resolve);
    expect(api!.routes[0]).toMatchObject({
      method: 'GET',
      resourcePath: '/',
      integration: { type: 'unsupported', integrationType: 'HTTP_PROXY' },
    });
  });

  it('fails if a resource references a parent that is not in the template', () => {
    const broken = {
      ...template,
      ApiModels: {
        ...template.ApiModels,
        Properties: { ...template.ApiModels.Properties, ParentId: { Ref: 'Gone' } },
      },
    };
    expect(() => routesFromTemplate(broken, resolve)).toThrow(/Gone is referenced but not defined/);
  });
});

describe('API Gateway server with a stand-in invoker', () => {
  let gateway: ApiGateway;
  const events: [string, APIGatewayProxyEvent][] = [];
  let reply: (fn: string, event: APIGatewayProxyEvent) => Promise<InvokeOutcome>;
  let api: RestApiRoutes;

  beforeAll(async () => {
    gateway = await startApiGateway({
      invoker: (fn, event) => {
        events.push([fn, event]);
        return reply(fn, event);
      },
      integrationTimeoutMs: 300,
      accountId: '123456789012',
      onError: () => undefined,
    });
    [api] = routesFromTemplate(template, resolve) as [RestApiRoutes];
    gateway.mount('/v1', api);
  });
  afterAll(async () => {
    await gateway.close();
  });
  const ok = (body: unknown): Promise<InvokeOutcome> =>
    Promise.resolve({ payload: { statusCode: 200, body: JSON.stringify(body) } });

  it('builds the proxy event 1.0 and maps the result back', async () => {
    // prepare
    reply = () =>
      Promise.resolve({
        payload: {
          statusCode: 201,
          headers: { 'Content-Type': 'text/plain', 'X-Model': 'wine' },
          multiValueHeaders: { 'Set-Cookie': ['a=1', 'b=2'] },
          body: 'created',
        },
      });
    // act
    const res = await call(gateway.port, 'GET', '/v1/models?tag=a&tag=b&limit=5', {
      headers: { 'X-Trace-Id': 'abc', Accept: 'text/plain' },
    });
    // assess
    expect(res.status).toBe(201);
    expect(res.body.toString()).toBe('created');
    expect(res.headers['content-type']).toBe('text/plain');
    expect(res.headers['x-model']).toBe('wine');
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    const [fn, event] = events.at(-1)!;
    expect(fn).toBe('local-listmodels');
    expect(event).toMatchObject({
      resource: '/models',
      path: '/models',
      httpMethod: 'GET',
      queryStringParameters: { tag: 'b', limit: '5' },
      multiValueQueryStringParameters: { tag: ['a', 'b'], limit: ['5'] },
      pathParameters: null,
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
    });
    expect(event.headers['X-Trace-Id']).toBe('abc'); // client's spelling kept
    expect(event.multiValueHeaders['Accept']).toEqual(['text/plain']);
    expect(event.requestContext).toMatchObject({
      stage: 'v1',
      resourcePath: '/models',
      httpMethod: 'GET',
      path: '/v1/models',
      accountId: '123456789012',
      requestId: res.headers['x-amzn-requestid'],
      identity: expect.objectContaining({ sourceIp: '127.0.0.1' }),
    });
    expect(Math.abs(event.requestContext.requestTimeEpoch - Date.now())).toBeLessThan(5000);
  });

  it('prefers literal segments over {param} over {proxy+}, and decodes path parameters', async () => {
    reply = (_fn, event) => ok(event.pathParameters);
    const latest = await call(gateway.port, 'POST', '/v1/models/latest', { body: '{}' });
    expect(events.at(-1)![0]).toBe('local-predictlatest');
    expect(latest.status).toBe(200);

    const byId = await call(gateway.port, 'POST', '/v1/models/wine%20v2', { body: '{"x":1}' });
    expect(events.at(-1)![0]).toBe('local-predict');
    expect(JSON.parse(byId.body.toString())).toEqual({ id: 'wine v2' });
    expect(events.at(-1)![1].body).toBe('{"x":1}');

    const greedy = await call(gateway.port, 'DELETE', '/v1/a/b/c');
    expect(events.at(-1)![0]).toBe('local-fallback');
    expect(JSON.parse(greedy.body.toString())).toEqual({ proxy: 'a/b/c' });
    expect(events.at(-1)![1].resource).toBe('/{proxy+}');
  });

  it("answers API Gateway's 403 Missing Authentication Token for unknown routes and methods", async () => {
    const before = events.length;
    for (const [method, path] of [
      ['GET', '/nope'],
      ['DELETE', '/v1/models'],
      ['GET', '/v1/models/abc'],
    ] as const) {
      const res = await call(gateway.port, method, path);
      expect(res.status).toBe(403);
      expect(res.body.toString()).toBe('{"message":"Missing Authentication Token"}');
      expect(res.headers['x-amzn-errortype']).toBe('MissingAuthenticationTokenException');
      expect(res.headers['x-amzn-requestid']).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(events.length).toBe(before);
  });

  it('answers 502 for malformed results and function errors, 504 when the integration times out', async () => {
    for (const payload of [
      null,
      'text',
      { body: 'no status' },
      { statusCode: 200, body: { not: 'a string' } },
    ]) {
      reply = () => Promise.resolve({ payload });
      const res = await call(gateway.port, 'GET', '/v1/models');
      expect(res.status).toBe(502);
      expect(res.body.toString()).toBe('{"message": "Internal server error"}');
      expect(res.headers['x-amzn-errortype']).toBe('InternalServerErrorException');
    }
    reply = () =>
      Promise.resolve({ payload: { errorType: 'Error', errorMessage: 'x' }, functionError: 'Unhandled' });
    expect((await call(gateway.port, 'GET', '/v1/models')).status).toBe(502);

    reply = () => new Promise((r) => setTimeout(() => r({ payload: { statusCode: 200 } }), 1000));
    const slow = await call(gateway.port, 'GET', '/v1/models');
    expect(slow.status).toBe(504);
    expect(slow.body.toString()).toBe('{"message": "Endpoint request timed out"}');
  });

  it('base64-encodes binary media types and decodes base64 results', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0x00, 0xfe]);
    reply = (_fn, event) =>
      Promise.resolve({
        payload: {
          statusCode: 200,
          headers: { 'Content-Type': 'image/png' },
          body: event.body,
          isBase64Encoded: true,
        },
      });
    const res = await call(gateway.port, 'POST', '/v1/models/img', {
      headers: { 'Content-Type': 'image/png' },
      body: png,
    });
    expect(events.at(-1)![1]).toMatchObject({ isBase64Encoded: true, body: png.toString('base64') });
    expect(res.body.equals(png)).toBe(true);
  });

  it('answers 413 Request Too Long above 10 MB without invoking', async () => {
    const before = events.length;
    const res = await call(gateway.port, 'POST', '/v1/models/big', {
      body: Buffer.alloc(10 * 1024 * 1024 + 1, 97),
    });
    expect(res.status).toBe(413);
    expect(res.body.toString()).toBe('{"message":"Request Too Long"}');
    expect(events.length).toBe(before);
    reply = () => ok('fine');
    expect(
      (await call(gateway.port, 'POST', '/v1/models/big', { body: Buffer.alloc(1024 * 1024, 97) })).status,
    ).toBe(200);
  });

  it('answers 502 on a route whose integration cannot run locally', async () => {
    gateway.mount('/unsupported', {
      routes: [
        {
          method: 'ANY',
          resourcePath: '/{proxy+}',
          resourceId: 'p',
          integration: { type: 'unsupported', integrationType: 'HTTP_PROXY' },
        },
      ],
    });
    const res = await call(gateway.port, 'GET', '/unsupported/predict');
    expect(res.status).toBe(502);
    expect(res.body.toString()).toBe('{"message": "Internal server error"}');
  });

  it('answers MOCK methods (CORS preflight) from the template', async () => {
    const res = await call(gateway.port, 'OPTIONS', '/v1/models');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['access-control-allow-methods']).toBe('GET,POST');
  });

  it('serves several APIs under distinct base paths', async () => {
    gateway.mount('/v1/admin', {
      routes: [
        {
          method: 'GET',
          resourcePath: '/models',
          resourceId: 'x',
          integration: { type: 'lambda-proxy', functionName: 'admin-list' },
        },
      ],
      stage: 'admin',
    });
    reply = (_fn, event) => ok(event.requestContext.stage);
    const admin = await call(gateway.port, 'GET', '/v1/admin/models');
    expect(events.at(-1)![0]).toBe('admin-list');
    expect(JSON.parse(admin.body.toString())).toBe('admin');
    await call(gateway.port, 'GET', '/v1/models');
    expect(events.at(-1)![0]).toBe('local-listmodels');
    expect(() => gateway.mount('/v1', api)).toThrow(/already has an API/);
  });
});

describe('API Gateway through the real Lambda engine', () => {
  let dir: string;
  let lambda: LambdaEngine;
  let gateway: ApiGateway;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mlops-apigw-'));
    await writeFile(
      join(dir, 'src.ts'),
      `import type { APIGatewayProxyHandler } from 'aws-lambda';
       export const handler: APIGatewayProxyHandler = async (event) => {
         if (event.pathParameters?.id === 'boom') throw new Error('model exploded');
         const input = JSON.parse(event.body ?? '{}');
         return { statusCode: 200, headers: { 'Content-Type': 'application/json' },
                  body: JSON.stringify({ id: event.pathParameters?.id, score: input.x * 2, table: process.env.TABLE }) };
       };`,
    );
    await build({
      entryPoints: [join(dir, 'src.ts')],
      outfile: join(dir, 'index.js'),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      logLevel: 'silent',
    });
    lambda = new LambdaEngine({ log: () => undefined });
    lambda.register({
      name: 'local-predict',
      codeDir: dir,
      handler: 'index.handler',
      environment: { TABLE: 'registry' },
    });
    gateway = await startApiGateway({ invoker: (fn, event) => lambda.invoke(fn, event) });
    const [api] = routesFromTemplate(template, resolve);
    gateway.mount('/v1', api!);
  });
  afterAll(async () => {
    await gateway.close();
    await lambda.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('invokes the function with the proxy event and returns its response', async () => {
    const res = await call(gateway.port, 'POST', '/v1/models/wine', {
      body: '{"x":21}',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ id: 'wine', score: 42, table: 'registry' });
  });

  it('answers 502 when the function throws', async () => {
    const res = await call(gateway.port, 'POST', '/v1/models/boom', { body: '{}' });
    expect(res.status).toBe(502);
    expect(res.body.toString()).toBe('{"message": "Internal server error"}');
  });

  it('closes with a keep-alive connection open and frees its port', async () => {
    const keepAlive = new (await import('node:http')).Agent({ keepAlive: true });
    await new Promise<void>((r) => {
      request({ host: '127.0.0.1', port: gateway.port, path: '/nope', agent: keepAlive }, (res) =>
        res.resume().on('end', r),
      ).end();
    });
    await gateway.close();
    const probe = createServer();
    await new Promise<void>((res, rej) => probe.once('error', rej).listen(gateway.port, '127.0.0.1', res));
    await new Promise<void>((res) => probe.close(() => res()));
    keepAlive.destroy();
    gateway = await startApiGateway({ invoker: (fn, event) => lambda.invoke(fn, event) }); // for afterAll
  });
});
