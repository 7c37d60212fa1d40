/**
 * The guard every local listener runs behind, so no request — however malformed — can throw out of
 * a listener or take the process down, and every refusal is an answer in the listener's own
 * protocol instead of a reset:
 *
 * - a handler that throws or rejects answers 500 in the protocol's shape (if nothing was sent yet);
 * - limits decided from the headers before any body is read: 414 for a URL over `maxUrlLength`,
 *   431 for headers over `maxHeaderBytes`, 413 for a declared body over `maxBodyBytes` (also
 *   before `100 Continue`, so a client that asks first never sends the body);
 * - malformed HTTP (bad framing, headers beyond the parser's ceiling) answers 400/414/431 instead
 *   of the parser's bare reset.
 *
 * A refused upload is answered at once with `Connection: close`, and the connection then lingers,
 * reading and discarding, until the client stops sending (bounded): closing while a client that
 * does not use `Expect: 100-continue` is still writing would reset the connection under it, and
 * the client would see EPIPE or ECONNRESET instead of the 413.
 *
 * @example
 * const server = createGuardedServer(handler, {
 *   error: (status, message) => ({ contentType: 'application/json', body: JSON.stringify({ message }) }),
 *   maxBodyBytes: 10 * 1024 * 1024,
 * });
 */
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Duplex } from 'node:stream';

/** An error answer in the listener's protocol. */
export interface ErrorAnswer {
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Renders an error in the listener's protocol; `req` is absent when the request could not be parsed. */
export type ErrorRenderer = (status: number, message: string, req?: IncomingMessage) => ErrorAnswer;

/** Options of {@link guard} and {@link createGuardedServer}. */
export interface GuardOptions {
  /** Renders every error the guard answers itself. */
  readonly error: ErrorRenderer;
  /** Reports what a handler threw. @default console.error */
  readonly onError?: (err: unknown) => void;
  /** A longer URL (path and query) answers 414. @default no limit */
  readonly maxUrlLength?: number;
  /** Header names and values (bytes, without the request line) beyond this answer 431. @default no limit */
  readonly maxHeaderBytes?: number;
  /** A larger declared `Content-Length` answers 413 before the body is read. @default no limit */
  readonly maxBodyBytes?: number | ((req: IncomingMessage) => number | undefined);
}

/**
 * The parser's own ceiling on the request line plus headers, above every listener's limit, so the
 * limits are answered by the guard with a precise status and only larger requests meet the parser.
 */
export const PARSER_HEADER_CEILING = 1024 * 1024;

/** How long a refused upload may keep sending before its connection is cut. */
const LINGER_MS = 10_000;

/**
 * `http.createServer` with {@link guard} applied and {@link PARSER_HEADER_CEILING} as the
 * parser's header limit.
 */
export function createGuardedServer(handler: RequestListener, options: GuardOptions): Server {
  const server = createServer({ maxHeaderSize: PARSER_HEADER_CEILING });
  guard(server, handler, options);
  return server;
}

/**
 * Installs `handler` on `server` behind the guard (for servers created elsewhere, like dynalite's:
 * its own request listeners are taken over).
 */
export function guard(server: Server, handler: RequestListener, options: GuardOptions): Server {
  const onError = options.onError ?? ((err: unknown) => console.error('[http]', err));
  const bodyLimit = (req: IncomingMessage) =>
    typeof options.maxBodyBytes === 'function' ? options.maxBodyBytes(req) : options.maxBodyBytes;

  /** The answer the headers alone decide, if any. */
  const refusal = (req: IncomingMessage): { status: number; message: string } | undefined => {
    const url = req.url ?? '/';
    if (options.maxUrlLength !== undefined && url.length > options.maxUrlLength) {
      return {
        status: 414,
        message: `The request URL must be at most ${options.maxUrlLength} characters, but ${url.length} were provided`,
      };
    }
    if (options.maxHeaderBytes !== undefined) {
      let bytes = 0;
      for (const part of req.rawHeaders) bytes += Buffer.byteLength(part);
      if (bytes > options.maxHeaderBytes) {
        return {
          status: 431,
          message: `The request headers must be at most ${options.maxHeaderBytes} bytes, but ${bytes} were provided`,
        };
      }
    }
    const limit = bodyLimit(req);
    const declared = Number(req.headers['content-length']);
    if (limit !== undefined && Number.isFinite(declared) && declared > limit) {
      return {
        status: 413,
        message: `The request body must be at most ${limit} bytes, but ${declared} were declared`,
      };
    }
    return undefined;
  };

  const listener: RequestListener = (req, res) => {
    // A client that goes away mid-request makes Node emit 'aborted' errors on both; with no
    // listener that is an uncaught exception, and a client hanging up is not ours to fail on.
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const refused = refusal(req);
    if (refused) {
      refuse(req, res, refused.status, options.error(refused.status, refused.message, req));
      return;
    }
    const fail = (err: unknown) => {
      onError(err);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const message = `internal error: ${(err as Error)?.message ?? String(err)}`;
      try {
        answer(res, 500, options.error(500, message, req));
      } catch (renderErr) {
        onError(renderErr);
        res.destroy();
      }
    };
    try {
      const result = handler(req, res) as unknown;
      if (result instanceof Promise) result.catch(fail);
    } catch (err) {
      fail(err);
    }
  };

  for (const l of server.listeners('request')) server.off('request', l as RequestListener);
  server.on('request', listener);
  // Node answers `100 Continue` on its own unless told otherwise: decide the limits first, so a
  // refused client never sends the body at all.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (refusal(req)) {
      listener(req, res);
      return;
    }
    res.writeContinue();
    server.emit('request', req, res);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const { status, message } = parseFailure(err);
    const rendered = options.error(status, message);
    const body = Buffer.from(rendered.body);
    const headers = {
      'content-type': rendered.contentType,
      ...rendered.headers,
      'content-length': String(body.length),
      connection: 'close',
    };
    const head = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Bad Request'}\r\n${head}\r\n${body.toString()}`);
    linger(socket);
  });
  return server;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
};

/** The status for what the HTTP parser rejected. */
function parseFailure(err: NodeJS.ErrnoException & { rawPacket?: Buffer }): {
  status: number;
  message: string;
} {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    // The parser only says "too big"; a request line still unfinished in what it holds is a long URL.
    const raw = err.rawPacket?.toString('latin1') ?? '';
    const lineEnd = raw.indexOf('\r\n');
    if (lineEnd === -1 || lineEnd > PARSER_HEADER_CEILING / 2) {
      return { status: 414, message: `The request URL is longer than ${PARSER_HEADER_CEILING} bytes` };
    }
    return {
      status: 431,
      message: `The request line and headers are longer than ${PARSER_HEADER_CEILING} bytes`,
    };
  }
  if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') {
    return { status: 413, message: 'The chunk extensions of the request body are too long' };
  }
  return { status: 400, message: `Malformed HTTP request (${err.code ?? err.message})` };
}

/** Writes an error answer. */
export function answer(res: ServerResponse, status: number, rendered: ErrorAnswer, close = false): void {
  const body = Buffer.from(rendered.body);
  res.writeHead(status, {
    'content-type': rendered.contentType,
    ...rendered.headers,
    'content-length': body.length,
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

/**
 * Answers a request whose body is refused (or partly read) and closes its connection without
 * resetting it under a client that is still sending (see the module note).
 */
export function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  rendered: ErrorAnswer,
): void {
  const socket = req.socket as Duplex & { destroySoon?: () => void };
  // Node ends a `Connection: close` response with socket.destroySoon(): destroy once written, with
  // the client's unread upload still arriving (a reset). Linger instead.
  socket.destroySoon = () => {
    socket.end();
    linger(socket);
  };
  req.resume();
  if (res.headersSent) {
    res.end();
    return;
  }
  answer(res, status, rendered, true);
}

/** Reads and discards what a closed-for-writing socket still receives, for at most {@link LINGER_MS}. */
function linger(socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  socket.once('end', () => socket.destroy());
  socket.resume();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/** The decoded text, or undefined when it is not valid percent-encoded UTF-8 (`decodeURIComponent` throws). */
export function decodePercent(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/**
 * The request's URL, its path taken as sent: `new URL(req.url, base)` would read `//host/x` as
 * another host and path `/x`. Undefined when it does not parse.
 */
export function requestUrl(req: IncomingMessage): URL | undefined {
  const raw = req.url ?? '/';
  try {
    return new URL(raw.startsWith('/') ? `http://local${raw}` : raw, 'http://local');
  } catch {
    return undefined;
  }
}

/**
 * Reads the whole body; undefined as soon as it grows past `max`, leaving the rest unread (not
 * destroyed: see {@link refuse}, which answers and lingers).
 */
export function readBodyUpTo(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.off('data', onData);
        resolve(undefined);
      } else chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
