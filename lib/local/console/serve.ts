/**
 * The console's files on the front door: `GET /` (index.html), `/console/app.js`, `…/app.css`,
 * their source maps, and `/console/config.json`, which names this platform's endpoints (the
 * console is one static build; the file is what differs where it is hosted). Any other path,
 * and any path an API route claims, is left to the gateway, so no existing route changes.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';

/** What `console/config.json` holds (the console's `ConsoleConfig`). */
export interface ConsoleEndpoints {
  readonly gateway: string;
  readonly awsEndpoint: string;
  readonly s3Endpoint: string;
  readonly region: string;
  readonly servingNamespace: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** The request paths served, and the build file each is read from. */
const FILES: Record<string, string> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/console/app.js': 'console/app.js',
  '/console/app.js.map': 'console/app.js.map',
  '/console/app.css': 'console/app.css',
  '/console/app.css.map': 'console/app.css.map',
  '/console/app.js.LEGAL.txt': 'console/app.js.LEGAL.txt',
};

/**
 * A request handler for the console's files; returns false for a request that is not one of them
 * (or that `claimed` says an API route serves), which then goes on to the gateway.
 */
export function consoleHandler(
  buildDir: string,
  endpoints: ConsoleEndpoints,
  claimed: (path: string) => boolean = () => false,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const config = Buffer.from(`${JSON.stringify(endpoints, null, 2)}\n`);
  // The console may call only the platform's own endpoints.
  const connect = ["'self'", endpoints.awsEndpoint, endpoints.s3Endpoint, endpoints.gateway].filter((s) => s !== '');
  const csp = [
    "default-src 'self'",
    `connect-src ${[...new Set(connect)].join(' ')}`,
    "img-src 'self' data:",
    // uPlot sizes its canvas and legend with style attributes.
    "style-src 'self' 'unsafe-inline'",
    "script-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'none'",
  ].join('; ');
  const cache = new Map<string, Buffer>();
  const read = (file: string): Buffer | undefined => {
    const hit = cache.get(file);
    if (hit) return hit;
    try {
      const body = readFileSync(join(buildDir, file));
      cache.set(file, body);
      return body;
    } catch {
      return undefined;
    }
  };

  return (req, res) => {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') return false;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (claimed(path)) return false;
    const body = path === '/console/config.json' ? config : FILES[path] ? read(FILES[path]) : undefined;
    if (!body) return false;
    const file = path === '/' ? 'index.html' : path;
    const ext = /\.[a-z]+$/i.exec(file)?.[0] ?? '.html';
    res.writeHead(200, {
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'content-length': body.length,
      // One build per start, names without hashes: revalidate each time (loopback, small files).
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      ...(ext === '.html' ? { 'content-security-policy': csp, 'x-frame-options': 'DENY' } : {}),
    });
    res.end(method === 'HEAD' ? undefined : body);
    return true;
  };
}
