/**
 * CORS for the console: the console is served by the gateway's origin and calls the AWS endpoint
 * and S3 on their own ports, in their own protocols, as a hosted console would call the real
 * endpoints. Only loopback origins are answered (the platform listens on loopback only, and a web
 * page from elsewhere must not drive it); any other origin gets no CORS headers, so the browser
 * refuses it.
 *
 * @example
 * if (loopbackCors(req, res)) return; // a preflight, answered
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

const LOOPBACK_ORIGIN = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$/;

/**
 * Sets the CORS headers for a loopback `Origin` and answers a preflight (`OPTIONS` with
 * `Access-Control-Request-Method`) with 204; true when the request was answered.
 */
export function loopbackCors(req: IncomingMessage, res: ServerResponse, exposeHeaders: readonly string[] = []): boolean {
  const origin = req.headers.origin;
  if (typeof origin !== 'string' || !LOOPBACK_ORIGIN.test(origin)) return false;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('vary', 'Origin');
  if (exposeHeaders.length > 0) res.setHeader('access-control-expose-headers', exposeHeaders.join(', '));
  if (req.method !== 'OPTIONS' || !req.headers['access-control-request-method']) return false;
  res.writeHead(204, {
    'access-control-allow-methods': 'GET, HEAD, PUT, POST, DELETE',
    'access-control-allow-headers': String(req.headers['access-control-request-headers'] ?? ''),
    'access-control-max-age': '600',
    'content-length': 0,
  });
  res.end();
  req.resume();
  return true;
}
