/**
 * The request logger: sampling, batching, partitioning, the directory and S3 sinks, a slow or
 * failing sink costing requests nothing, and flushing on shutdown.
 */
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { s3Objects } from '../../lib/adapters/s3/objects';
import { compileModel } from '../../lib/serving/model';
import {
  DirectorySink,
  type LogBatch,
  type LogSink,
  RequestLogger,
  S3Sink,
  SinkFullError,
} from '../../lib/serving/request-log';
import { type ModelServer, startModelServer } from '../../lib/serving/server';
import { call, expected, TINY } from './helpers';

const model = compileModel(TINY, { name: 'tiny', version: '1' });

class MemorySink implements LogSink {
  readonly batches: LogBatch[] = [];
  async write(batch: LogBatch): Promise<void> {
    this.batches.push(batch);
  }
  lines(): any[] {
    return this.batches.flatMap((b) =>
      b.body
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    );
  }
}

const record = (i: number, ts = Date.UTC(2026, 10, 3, 12)) => ({
  kind: 'prediction' as const,
  ts,
  protocol: 'seldon',
  requestId: `r${i}`,
  rows: 1,
  x: new Float64Array([i, 1]),
  y: new Float64Array([expected(TINY, [i, 1])]),
});

const servers: ModelServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('RequestLogger', () => {
  it('writes one JSON line per row with features by name, batched by size', async () => {
    const sink = new MemorySink();
    const logger = new RequestLogger({ sink, model, batchSize: 3, flushIntervalMs: 60_000 });
    for (let i = 0; i < 7; i++) logger.push(record(i));
    await new Promise((r) => setTimeout(r, 50));
    // Two full batches went out on size alone; the seventh waits for the timer or close().
    expect(sink.batches.map((b) => b.lines)).toEqual([3, 3]);
    await logger.close();
    expect(sink.batches.map((b) => b.lines)).toEqual([3, 3, 1]);
    expect(sink.lines()[0]).toEqual({
      ts: '2026-11-03T12:00:00.000Z',
      model: 'tiny',
      version: '1',
      protocol: 'seldon',
      request_id: 'r0',
      row: 0,
      features: { a: 0, b: 1 },
      prediction: expected(TINY, [0, 1]),
    });
    expect(sink.lines().map((l) => l.request_id)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
  });

  it('writes after the flush interval without a full batch', async () => {
    const sink = new MemorySink();
    const logger = new RequestLogger({ sink, model, batchSize: 100, flushIntervalMs: 30 });
    logger.push(record(1));
    await new Promise((r) => setTimeout(r, 120));
    expect(sink.batches).toHaveLength(1);
    await logger.close();
  });

  it('partitions a batch by UTC day', async () => {
    const sink = new MemorySink();
    const logger = new RequestLogger({ sink, model, flushIntervalMs: 60_000 });
    logger.push(record(1, Date.UTC(2026, 10, 3, 23, 59, 59)));
    logger.push(record(2, Date.UTC(2026, 10, 4, 0, 0, 1)));
    await logger.close();
    expect(sink.batches.map((b) => [b.dt, b.lines])).toEqual([
      ['2026-11-03', 1],
      ['2026-11-04', 1],
    ]);
  });

  it('samples at the configured rate', () => {
    let i = 0;
    // A deterministic "random" source cycling through 0.00, 0.01, …, 0.99.
    const logger = new RequestLogger({
      sink: new MemorySink(),
      model,
      sampleRate: 0.25,
      random: () => (i++ % 100) / 100,
    });
    const picked = Array.from({ length: 1000 }, () => logger.sampled()).filter(Boolean).length;
    expect(picked).toBe(250);
    expect(new RequestLogger({ sink: new MemorySink(), model, sampleRate: 0 }).sampled()).toBe(false);
    expect(() => new RequestLogger({ sink: new MemorySink(), model, sampleRate: 1.5 })).toThrow(
      /between 0 and 1/,
    );
  });

  it('bounds its queue: records past maxQueue are dropped and counted', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const written: number[] = [];
    const outcomes = { written: 0, dropped: 0, failed: 0 };
    const sink: LogSink = {
      async write(b) {
        await gate;
        written.push(b.lines);
      },
    };
    const logger = new RequestLogger({
      sink,
      model,
      batchSize: 10,
      maxQueue: 30,
      flushIntervalMs: 60_000,
      onOutcome: (o, n) => {
        outcomes[o] += n;
      },
    });
    for (let i = 0; i < 100; i++) logger.push(record(i));
    expect(logger.depth).toBe(30);
    expect(outcomes.dropped).toBe(70);
    release();
    await logger.close();
    expect(outcomes).toEqual({ written: 30, dropped: 70, failed: 0 });
    expect(written.reduce((a, b) => a + b, 0)).toBe(30);
  });

  it('counts a failing sink and carries on', async () => {
    const outcomes = { written: 0, dropped: 0, failed: 0 };
    const errors: unknown[] = [];
    let calls = 0;
    const sink: LogSink = {
      async write() {
        if (calls++ === 0) throw new Error('disk full');
      },
    };
    const logger = new RequestLogger({
      sink,
      model,
      batchSize: 2,
      flushIntervalMs: 60_000,
      onOutcome: (o, n) => {
        outcomes[o] += n;
      },
      onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 4; i++) logger.push(record(i));
    await logger.close();
    expect(outcomes).toEqual({ written: 2, dropped: 0, failed: 2 });
    expect((errors[0] as Error).message).toBe('disk full');
  });

  it('close() gives up on a hung sink after its deadline and counts what is left as dropped', async () => {
    const outcomes = { written: 0, dropped: 0, failed: 0 };
    const logger = new RequestLogger({
      sink: { write: () => new Promise(() => {}) },
      model,
      batchSize: 2,
      flushIntervalMs: 60_000,
      onOutcome: (o, n) => {
        outcomes[o] += n;
      },
    });
    for (let i = 0; i < 5; i++) logger.push(record(i));
    const started = Date.now();
    await logger.close(200);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(outcomes.dropped).toBe(3);
  });
});

describe('sinks', () => {
  it('DirectorySink writes dt=YYYY-MM-DD/part-*.jsonl files that never overwrite each other', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mlops-lake-'));
    const sink = new DirectorySink(dir);
    await sink.write({ dt: '2026-11-03', body: '{"a":1}\n', lines: 1 });
    await sink.write({ dt: '2026-11-03', body: '{"a":2}\n', lines: 1 });
    expect(await readdir(dir)).toEqual(['dt=2026-11-03']);
    const files = await readdir(join(dir, 'dt=2026-11-03'));
    expect(files).toHaveLength(2);
    for (const f of files) expect(f).toMatch(/^part-\d+-[0-9a-f]{12}\.jsonl$/);
    const bodies = await Promise.all(files.map((f) => readFile(join(dir, 'dt=2026-11-03', f), 'utf8')));
    expect(bodies.sort()).toEqual(['{"a":1}\n', '{"a":2}\n']);
  });

  it('DirectorySink with maxBytes refuses the batch that would pass the cap, counting earlier runs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mlops-lake-'));
    const line = `${JSON.stringify({ x: 'y'.repeat(90) })}\n`; // 100 bytes
    await new DirectorySink(dir, { maxBytes: 250 }).write({ dt: '2026-11-03', body: line, lines: 1 });
    // a new sink (a restart) finds the 100 bytes already there
    const sink = new DirectorySink(dir, { maxBytes: 250 });
    await sink.write({ dt: '2026-11-04', body: line, lines: 1 });
    await expect(sink.write({ dt: '2026-11-04', body: line, lines: 1 })).rejects.toThrow(SinkFullError);
    await expect(sink.write({ dt: '2026-11-04', body: line, lines: 1 })).rejects.toThrow(
      /reached its cap of 0\.2 KiB; further predictions are not logged/,
    );
    expect(await readdir(join(dir, 'dt=2026-11-04'))).toHaveLength(1);
  });

  it('a full sink counts its batches as dropped, not failed, and is reported once', async () => {
    const outcomes: string[] = [];
    const errors: unknown[] = [];
    const full: LogSink = {
      write: async () => {
        throw new SinkFullError('full');
      },
    };
    const logger = new RequestLogger({
      sink: full,
      model,
      batchSize: 1,
      onOutcome: (o, n) => outcomes.push(`${o}:${n}`),
      onError: (e) => errors.push(e),
    });
    for (let i = 0; i < 3; i++) logger.push(record(i));
    await logger.close();
    expect(outcomes).toEqual(['dropped:1', 'dropped:1', 'dropped:1']);
    expect(errors).toHaveLength(1);
  });

  it('S3Sink PUTs each batch under <prefix>dt=YYYY-MM-DD/ (against a loopback S3 PutObject)', async () => {
    const puts: { url: string; body: string; type: string | undefined }[] = [];
    const fake = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        puts.push({ url: req.url!, body, type: req.headers['content-type'] });
        res.writeHead(200, { etag: '"x"' });
        res.end();
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    try {
      const client = new S3Client({
        endpoint: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      });
      const sink = new S3Sink({ objects: s3Objects(client), bucket: 'datalake-raw', prefix: 'predictions/tiny' });
      await sink.write({ dt: '2026-11-03', body: '{"a":1}\n', lines: 1 });
      expect(puts).toHaveLength(1);
      expect(decodeURIComponent(puts[0]!.url)).toMatch(
        /^\/datalake-raw\/predictions\/tiny\/dt=2026-11-03\/part-\d+-[0-9a-f]{12}\.jsonl(\?|$)/,
      );
      expect(puts[0]!.body).toBe('{"a":1}\n');
      expect(puts[0]!.type).toBe('application/x-ndjson');
    } finally {
      fake.close();
    }
  });
});

describe('request logging in the server', () => {
  it('logs sampled predictions from both protocols and feedback, and flushes on close', async () => {
    const sink = new MemorySink();
    const logger = new RequestLogger({ sink, model, flushIntervalMs: 60_000 });
    const server = await startModelServer({ model, port: 0, logger });
    await call(server.url, 'POST', '/api/v1.0/predictions', {
      meta: { puid: 'p1' },
      data: {
        ndarray: [
          [1, 2],
          [3, 4],
        ],
      },
    });
    await call(server.url, 'POST', '/v2/models/tiny/infer', {
      id: 'o1',
      inputs: [{ name: 'input-0', shape: [1, 2], datatype: 'FP64', data: [5, 6] }],
    });
    await call(server.url, 'POST', '/api/v1.0/predictions', '{"data":');
    await call(server.url, 'POST', '/api/v1.0/feedback', {
      response: { meta: { puid: 'p1' } },
      reward: 1,
      truth: { data: { ndarray: [9] } },
    });
    expect(sink.batches).toHaveLength(0);
    await server.close();
    const lines = sink.lines();
    expect(lines.map((l) => [l.protocol ?? l.kind, l.request_id, l.prediction ?? l.reward])).toEqual([
      ['seldon', 'p1', expected(TINY, [1, 2])],
      ['seldon', 'p1', expected(TINY, [3, 4])],
      ['oip', 'o1', expected(TINY, [5, 6])],
      ['feedback', 'p1', 1],
    ]);
    expect(lines[3].truth).toEqual({ data: { ndarray: [9] } });
  });

  it('a slow sink does not slow requests, and a failing one does not fail them', async () => {
    for (const write of [
      () => new Promise<void>((r) => setTimeout(r, 2000)),
      () => Promise.reject(new Error('S3 down')),
    ]) {
      const logger = new RequestLogger({
        sink: { write },
        model,
        batchSize: 1,
        maxQueue: 5,
        flushIntervalMs: 10,
        onError: () => {},
      });
      const server = await startModelServer({ model, port: 0, logger });
      servers.push(server);
      const started = performance.now();
      for (let i = 0; i < 50; i++) {
        const r = await call(server.url, 'POST', '/api/v1.0/predictions', { data: { ndarray: [[i, 1]] } });
        expect(r.status).toBe(200);
        expect(r.json.data.ndarray).toEqual([expected(TINY, [i, 1])]);
      }
      // 50 requests against a sink taking 2 s per batch: the requests must not have waited on it.
      expect(performance.now() - started).toBeLessThan(1500);
      await logger.close(100);
    }
  });
});
