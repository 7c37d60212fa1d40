/**
 * One loopback endpoint that answers the AWS APIs the local platform serves beyond S3 and
 * DynamoDB, in their own wire protocols, so unchanged AWS SDK v3 clients (and the AWS CLI with
 * `--endpoint-url`) reach them:
 *
 * - JSON protocol services, dispatched on `X-Amz-Target: <Prefix>.<Operation>` (Step Functions
 *   `AWSStepFunctions`, Athena `AmazonAthena`, EventBridge `AWSEvents`);
 * - Lambda's REST `POST /2015-03-31/functions/<name>/invocations`.
 *
 * Errors use the JSON protocol's shape, `{"__type": "<Code>", "message": "…"}` with a 4xx/5xx
 * status, which the SDK turns into a typed exception with that name.
 *
 * @example
 * const endpoint = await startAwsEndpoint({ services: { AWSStepFunctions: { StartExecution: … } } });
 * new SFNClient({ endpoint: endpoint.url });
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createGuardedServer, type ErrorRenderer, readBodyUpTo, refuse } from './http-guard';
import { listenOnLoopback } from './listen';

/** An operation handler: the request's JSON body in, the response's JSON body out. */
export type Operation = (input: Record<string, unknown>) => Promise<unknown> | unknown;

/** Thrown by an operation to answer a modelled error (a 4xx unless `status` says otherwise). */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}

export interface LambdaInvokeResult {
  readonly payload: unknown;
  /** Set when the function threw: `Unhandled`, as Lambda's `X-Amz-Function-Error`. */
  readonly functionError?: string;
}

export interface AwsEndpointOptions {
  /** Operations by JSON-protocol target prefix, then by operation name. */
  readonly services: Readonly<Record<string, Readonly<Record<string, Operation>>>>;
  /** Lambda Invoke; absent means the Lambda routes answer 404. */
  readonly invokeFunction?: (name: string, payload: unknown) => Promise<LambdaInvokeResult>;
  /** Lambda ListFunctions: the names of the functions served. */
  readonly listFunctions?: () => { FunctionName: string; FunctionArn: string }[];
  /** @default 0 (ephemeral) */
  readonly port?: number;
  /** Largest request body accepted. @default 6 MiB (Lambda's synchronous payload limit) */
  readonly maxBodyBytes?: number;
  /** Reports what an operation threw unexpectedly (answered 500 InternalFailure). @default console.error */
  readonly onError?: (err: unknown) => void;
}

export interface AwsEndpoint {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const LAMBDA_INVOKE = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

export async function startAwsEndpoint(options: AwsEndpointOptions): Promise<AwsEndpoint> {
  const maxBody = options.maxBodyBytes ?? 6 * 1024 * 1024;
  const sockets = new Set<Socket>();
  const server = createGuardedServer((req, res) => handle(req, res), {
    error: awsJsonError,
    maxBodyBytes: maxBody,
    onError: options.onError,
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBodyUpTo(req, maxBody);
    if (body === undefined) {
      return refuse(req, res, 413, awsJsonError(413, `Request must be smaller than ${maxBody} bytes`));
    }
    if (req.method === 'GET' && /^\/2015-03-31\/functions\/?$/.test((req.url ?? '').split('?')[0]!)) {
      return reply(res, 200, { Functions: options.listFunctions?.() ?? [] });
    }
    const lambdaMatch = req.method === 'POST' ? LAMBDA_INVOKE.exec((req.url ?? '').split('?')[0]!) : null;
    if (lambdaMatch) {
      const name = safeDecode(lambdaMatch[1]!);
      if (name === undefined) {
        return reply(
          res,
          400,
          {
            Type: 'User',
            Message: `The function name must be valid percent-encoded UTF-8, but ${lambdaMatch[1]} was provided`,
          },
          { 'x-amzn-errortype': 'ValidationException' },
        );
      }
      return invokeLambda(name, body, res);
    }

    const target = String(req.headers['x-amz-target'] ?? '');
    const dot = target.lastIndexOf('.');
    const service = options.services[target.slice(0, dot)];
    const operation = service?.[target.slice(dot + 1)];
    if (req.method !== 'POST' || !operation) {
      return reply(res, 400, {
        __type: 'UnknownOperationException',
        message: `Unknown operation ${target || req.url}`,
      });
    }
    let input: Record<string, unknown>;
    try {
      const parsed = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
        throw new Error('the body must be a JSON object');
      input = parsed;
    } catch (err) {
      return reply(res, 400, { __type: 'SerializationException', message: (err as Error).message });
    }
    try {
      reply(res, 200, toWire((await operation(input)) ?? {}));
    } catch (err) {
      if (err instanceof AwsError) return reply(res, err.status, { __type: err.code, message: err.message });
      const e = err as Error;
      // Engines signal client errors by error name (e.g. ExecutionDoesNotExist, InvalidArn).
      if (e?.name && /^[A-Z][A-Za-z]+$/.test(e.name) && e.name !== 'Error' && e.name !== 'TypeError') {
        return reply(res, 400, { __type: e.name, message: e.message });
      }
      options.onError?.(err);
      reply(res, 500, { __type: 'InternalFailure', message: e?.message ?? String(err) });
    }
  }

  async function invokeLambda(name: string, body: Buffer, res: ServerResponse): Promise<void> {
    if (!options.invokeFunction)
      return reply(res, 404, { Type: 'User', Message: 'No functions are served here' });
    let payload: unknown;
    try {
      payload = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      return reply(
        res,
        400,
        { Type: 'User', Message: 'Could not parse request body into json' },
        {
          'x-amzn-errortype': 'InvalidRequestContentException',
        },
      );
    }
    try {
      const result = await options.invokeFunction(name, payload);
      const headers: Record<string, string> = { 'x-amz-executed-version': '$LATEST' };
      if (result.functionError) headers['x-amz-function-error'] = result.functionError;
      reply(res, 200, result.payload ?? null, headers);
    } catch (err) {
      const e = err as Error;
      const notFound = /not (found|registered)|unknown function|no function/i.test(e.message);
      reply(
        res,
        notFound ? 404 : 500,
        { Type: notFound ? 'User' : 'Service', Message: e.message },
        {
          'x-amzn-errortype': notFound ? 'ResourceNotFoundException' : 'ServiceException',
        },
      );
    }
  }

  const port = await listenOnLoopback(server, options.port);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/**
 * The JSON protocols carry timestamps as epoch seconds; engines hold Dates or ISO strings.
 * Converts both (ISO strings only under timestamp-named keys, so data strings are left alone).
 */
export function toWire(value: unknown, key = ''): unknown {
  if (value instanceof Date) return value.getTime() / 1000;
  if (typeof value === 'string' && /(Date|DateTime|timestamp|Timestamp)$/.test(key)) {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? value : ms / 1000;
  }
  if (Array.isArray(value)) return value.map((v) => toWire(v));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v, k)]));
  }
  return value;
}

function reply(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': crypto.randomUUID(),
    ...headers,
  });
  res.end(text);
}

/** Errors the endpoint answers itself, in the JSON protocols' shape. */
const awsJsonError: ErrorRenderer = (status, message) => {
  const type =
    status === 413
      ? 'RequestEntityTooLargeException'
      : status >= 500
        ? 'InternalFailure'
        : status === 414 || status === 431
          ? 'ValidationException'
          : 'SerializationException';
  return {
    contentType: 'application/x-amz-json-1.1',
    body: JSON.stringify({ __type: type, message }),
    headers: { 'x-amzn-errortype': type },
  };
};

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
