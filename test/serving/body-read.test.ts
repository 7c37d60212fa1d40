/**
 * How the model server reads request bodies: straight from Node's HTTP parser into the exchange
 * (`ExchangeRequest.push` in lib/serving/server.ts), not through the request stream's `'data'` and
 * `'end'` events. Everything here goes over real sockets: many bodies on one keep-alive connection,
 * however they arrive; `Expect: 100-continue`; a body refused as too large mid-way; and answered
 * requests, whose streams the server never ends, must not stay reachable.
 */
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelServer } from '../../lib/serving/server';
import { startTiny } from './helpers';

const MAX_BODY = 4096;
let server: ModelServer;
const errors: unknown[] = [];

beforeAll(async () => {
  server = await startTiny(MAX_BODY, errors);
});
afterAll(async () => {
  await server.close();
});

interface Answer {
  status: number;
  head: string;
  body: string;
}

/** One client connection: `write` raw bytes, `next` resolves the next whole answer (interim `100 Continue` included). */
class Connection {
  private readonly socket: Socket;
  private buffered = '';
  private readonly answers: Answer[] = [];
  private waiting: ((a: Answer) => void) | undefined;
  closed = false;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => {
      this.buffered += d;
      this.parse();
    });
    this.socket.on('close', () => {
      this.closed = true;
    });
    this.socket.on('error', () => {});
  }

  private parse(): void {
    for (;;) {
      const h = this.buffered.indexOf('\r\n\r\n');
      if (h === -1) return;
      const head = this.buffered.slice(0, h);
      const status = Number(head.slice(9, 12));
      const length = status === 100 ? 0 : Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (this.buffered.length < h + 4 + length) return;
      const answer = { status, head, body: this.buffered.slice(h + 4, h + 4 + length) };
      this.buffered = this.buffered.slice(h + 4 + length);
      const w = this.waiting;
      this.waiting = undefined;
      if (w !== undefined) w(answer);
      else this.answers.push(answer);
    }
  }

  write(text: string): void {
    this.socket.write(text);
  }

  next(): Promise<Answer> {
    const a = this.answers.shift();
    if (a !== undefined) return Promise.resolve(a);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer; received so far ${JSON.stringify(this.buffered)}`)), 3000);
      this.waiting = (answer) => {
        clearTimeout(timer);
        resolve(answer);
      };
    });
  }

  end(): void {
    this.socket.destroy();
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const head = (path: string, framing: string, extra = '') =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${framing}\r\n${extra}\r\n`;
const seldon = (a: number, b: number) => `{"data":{"ndarray":[[${a},${b}]]}}`;
const oip = (a: number, b: number) => `{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP64","data":[${a},${b}]}]}`;
/** The `tiny` model's prediction: 2a + 3b + 1. */
const y = (a: number, b: number) => 2 * a + 3 * b + 1;

describe('request bodies', () => {
  it('fails if bodies on one keep-alive connection are not each answered from their own bytes, however they arrive', async () => {
    const c = new Connection(server.port);
    try {
      for (let k = 0; k < 40; k++) {
        const [a, b] = [k, 100 - k];
        const route = k % 2 === 0 ? '/api/v1.0/predictions' : '/v2/models/tiny/infer';
        const body = k % 2 === 0 ? seldon(a, b) : oip(a, b);
        switch (k % 5) {
          case 0: // headers and body in one write
            c.write(head(route, `Content-Length: ${body.length}`) + body);
            break;
          case 1: // the body in two writes after the headers
            c.write(head(route, `Content-Length: ${body.length}`));
            await pause(5);
            c.write(body.slice(0, 7));
            await pause(5);
            c.write(body.slice(7));
            break;
          case 2: // chunked, one chunk per byte for the first few
            c.write(head(route, 'Transfer-Encoding: chunked'));
            for (const ch of body.slice(0, 5)) c.write(`1\r\n${ch}\r\n`);
            await pause(5);
            c.write(`${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n0\r\n\r\n`);
            break;
          case 3: // a GET in between, whose stray body no one reads
            c.write(`GET /health/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello`);
            expect((await c.next()).body).toBe('pong');
            c.write(head(route, `Content-Length: ${body.length}`) + body);
            break;
          default: // two requests in one write (pipelined)
            c.write(head(route, `Content-Length: ${body.length}`) + body + head(route, `Content-Length: ${body.length}`) + body);
            expect((await c.next()).status).toBe(200);
        }
        const answer = await c.next();
        expect(answer.status, answer.body).toBe(200);
        const json = JSON.parse(answer.body);
        expect(k % 2 === 0 ? json.data.ndarray : json.outputs[0].data, `request ${k}`).toEqual([y(a, b)]);
      }
      expect(c.closed).toBe(false);
    } finally {
      c.end();
    }
  });

  it('fails if a prediction\'s body goes through the request stream instead of straight to the exchange', async () => {
    // The path bench/serve's figures rest on: were Node to stop handing bodies to `push`, every
    // POST would hang and the tests above fail; were the server to fall back to listeners, this does.
    const requests: import('node:http').IncomingMessage[] = [];
    const track = (req: import('node:http').IncomingMessage) => requests.push(req);
    server.server.on('request', track);
    const c = new Connection(server.port);
    try {
      for (const [route, body] of [['/api/v1.0/predictions', seldon(1, 2)], ['/v2/models/tiny/infer', oip(1, 2)]] as const) {
        c.write(head(route, `Content-Length: ${body.length}`) + body);
        expect((await c.next()).status).toBe(200);
      }
    } finally {
      server.server.off('request', track);
      c.end();
    }
    expect(requests).toHaveLength(2);
    for (const req of requests) {
      expect(req.complete).toBe(true);
      expect(req.listenerCount('data')).toBe(0);
      expect(req.readableLength).toBe(0);
      expect(req.readableEnded).toBe(false);
    }
  });

  it('fails if Expect: 100-continue is not answered 100 then the prediction, or a declared body past the limit is not refused before it is sent', async () => {
    const c = new Connection(server.port);
    try {
      const body = seldon(1, 2);
      c.write(head('/api/v1.0/predictions', `Content-Length: ${body.length}`, 'Expect: 100-continue\r\n'));
      expect((await c.next()).status).toBe(100);
      c.write(body);
      const answer = await c.next();
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).data.ndarray).toEqual([y(1, 2)]);

      c.write(head('/v2/models/tiny/infer', `Content-Length: ${MAX_BODY + 1}`, 'Expect: 100-continue\r\n'));
      const refused = await c.next();
      expect(refused.status).toBe(413);
      expect(JSON.parse(refused.body).error).toContain(`at most ${MAX_BODY} bytes`);
    } finally {
      c.end();
    }
  });

  it('fails if a body refused mid-way as too large is not answered 413 and its connection closed, or the server stops serving', async () => {
    const c = new Connection(server.port);
    try {
      // Chunked, so the size is known only as it comes: the server answers 413 once the limit is
      // passed, with `connection: close` (the rest of the body is not worth reading).
      c.write(head('/api/v1.0/predictions', 'Transfer-Encoding: chunked'));
      const part = 'x'.repeat(1000);
      for (let i = 0; i < 8; i++) c.write(`${part.length.toString(16)}\r\n${part}\r\n`);
      const refused = await c.next();
      expect(refused.status).toBe(413);
      expect(refused.head).toMatch(/\r\nconnection: close\r\n/i);
      expect(JSON.parse(refused.body).status.info).toContain(`at most ${MAX_BODY} bytes`);
      for (let i = 0; i < 50 && !c.closed; i++) await pause(10);
      expect(c.closed).toBe(true);
    } finally {
      c.end();
    }
    const next = new Connection(server.port);
    try {
      const body = seldon(3, 4);
      next.write(head('/api/v1.0/predictions', `Content-Length: ${body.length}`) + body);
      const answer = await next.next();
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).data.ndarray).toEqual([y(3, 4)]);
    } finally {
      next.end();
    }
  });

  it('fails if answered requests stay reachable (their streams are never ended, so nothing but a leak would keep them)', async () => {
    const seen: WeakRef<object>[] = [];
    const track = (req: object) => seen.push(new WeakRef(req));
    server.server.on('request', track);
    try {
      const connections = Array.from({ length: 4 }, () => new Connection(server.port));
      for (let k = 0; k < 250; k++) {
        for (const c of connections) {
          const body = k % 2 === 0 ? seldon(k, 1) : oip(k, 1);
          c.write(head(k % 2 === 0 ? '/api/v1.0/predictions' : '/v2/models/tiny/infer', `Content-Length: ${body.length}`) + body);
        }
        for (const c of connections) expect((await c.next()).status).toBe(200);
      }
      for (const c of connections) c.end();
      await pause(50);
    } finally {
      server.server.off('request', track);
    }
    expect(seen.length).toBe(1000);
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    for (let i = 0; i < 3; i++) {
      gc();
      await pause(10);
    }
    expect(seen.filter((r) => r.deref() !== undefined).length).toBeLessThan(10);
  });

  it('reported no unexpected (500) errors', () => {
    expect(errors).toEqual([]);
  });
});
