/**
 * A tiny stand-in for the Kubernetes API server the deployer talks to: objects by path,
 * resourceVersion checks, Status errors, label-selector lists, merge patches (loopback HTTP).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Stored {
  metadata: {
    name: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [k: string]: unknown;
}

const COLLECTIONS = new Set(['seldondeployments', 'configmaps', 'deployments']);

/** A tiny stand-in for the API server: objects by path, resourceVersion checks, Status errors. */
export class FakeApiServer {
  readonly objects = new Map<string, Stored>();
  readonly requests: { method: string; path: string; body?: unknown; contentType?: string; auth?: string }[] =
    [];
  failNext?: { status: number; reason: string; message: string };
  private version = 1;
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer(
      (req, res) =>
        void this.handle(req).then(({ status, body }) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        }),
    );
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server!.close(() => r()));
  }

  private status(code: number, reason: string, message: string) {
    return {
      status: code,
      body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code },
    };
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text === '' ? undefined : JSON.parse(text);
    const url = new URL(req.url!, 'http://x');
    const path = url.pathname;
    this.requests.push({
      method: req.method!,
      path: `${path}${url.search}`,
      body,
      ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
      ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
    });
    if (this.failNext) {
      const f = this.failNext;
      this.failNext = undefined;
      return this.status(f.status, f.reason, f.message);
    }
    switch (req.method) {
      case 'POST': {
        const key = `${path}/${body.metadata.name}`;
        if (this.objects.has(key))
          return this.status(409, 'AlreadyExists', `${body.metadata.name} already exists`);
        const stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(this.version++) } };
        this.objects.set(key, stored);
        return { status: 201, body: stored };
      }
      case 'GET': {
        const found = this.objects.get(path);
        if (found) return { status: 200, body: found };
        const selector = url.searchParams.get('labelSelector');
        const items = [...this.objects.entries()]
          .filter(([k]) => k.startsWith(`${path}/`) && !k.slice(path.length + 1).includes('/'))
          .map(([, v]) => v)
          .filter((v) => {
            if (!selector) return true;
            // Equality (`k=v`) and absence (`!k`) requirements, comma-separated, all must hold.
            return selector.split(',').every((requirement) => {
              if (requirement.startsWith('!')) return v.metadata.labels?.[requirement.slice(1)] === undefined;
              const [k, val] = requirement.split('=');
              return v.metadata.labels?.[k!] === val;
            });
          });
        if (COLLECTIONS.has(path.split('/').pop()!)) return { status: 200, body: { kind: 'List', items } };
        return this.status(404, 'NotFound', `${path} not found`);
      }
      case 'PUT': {
        const live = this.objects.get(path);
        if (!live) return this.status(404, 'NotFound', `${path} not found`);
        if (body.metadata.resourceVersion !== live.metadata.resourceVersion) {
          return this.status(
            409,
            'Conflict',
            'the object has been modified; please apply your changes to the latest version',
          );
        }
        const stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(this.version++) } };
        this.objects.set(path, stored);
        return { status: 200, body: stored };
      }
      case 'PATCH': {
        const live = this.objects.get(path) ?? {
          metadata: { name: path.split('/').pop()!, resourceVersion: '0' },
        };
        this.objects.set(path, { ...live, patched: body });
        return { status: 200, body: live };
      }
      default:
        return this.status(405, 'MethodNotAllowed', req.method!);
    }
  }
}
