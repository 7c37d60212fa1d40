/**
 * Request/response logging for drift analysis: a sampled, batched logger that works off the
 * request path and writes JSON Lines batches to a pluggable sink, partitioned by day (`dt=YYYY-MM-DD/`).
 *
 * A request only ever pays for a `Math.random()` and, when sampled, an array push: records are
 * serialised when a batch is written, one batch at a time. The queue is bounded; when the sink is
 * slower than the traffic the newest records are dropped and counted, and a failing sink loses its
 * batch (counted) without touching requests. `close()` writes what is queued, within a deadline.
 *
 * One line per predicted row, so the lake can be queried straight away (DuckDB `read_json_auto`,
 * Athena JSON SerDe):
 *
 * ```json
 * {"ts":"2026-11-03T10:00:00.123Z","model":"wine-quality","version":"3","protocol":"seldon","request_id":"abc","row":0,"features":{"alcohol":9.4,…},"prediction":5.03}
 * ```
 *
 * Seldon feedback is logged whole (never sampled out: it is the ground truth drift jobs join on):
 * `{"ts":…,"kind":"feedback","model":…,"version":…,"request_id":…,"reward":1,"truth":{…}}`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Where the request log lives under the raw bucket, on AWS and locally alike:
 * `predictions/deployment=<deployment>/dt=YYYY-MM-DD/part-….jsonl`. Hive style, so the lake's
 * `prediction_log` table (drift and model quality read it) projects `deployment` and `dt` from
 * these directories. Every version of a deployment writes there; each line names its version.
 */
export const REQUEST_LOG_PREFIX = 'predictions/';

/** The Glue table over the request log, which drift and model quality both query. */
export const REQUEST_LOG_TABLE = 'prediction_log';

/** The directory of one deployment's log below {@link REQUEST_LOG_PREFIX}. */
export const requestLogDeploymentDir = (deployment: string): string => `deployment=${deployment}`;

/** One batch for a sink: the lines of one day. */
export interface LogBatch {
  /** The partition, `YYYY-MM-DD` (UTC). */
  readonly dt: string;
  /** JSON Lines, each line ending in `\n`. */
  readonly body: string;
  /** How many lines `body` holds. */
  readonly lines: number;
}

/** Where batches go. A sink may be slow or fail: the logger bounds what that costs. */
export interface LogSink {
  write(batch: LogBatch): Promise<void>;
}

/**
 * Thrown by a sink that has reached its size cap: the logger counts the batch as dropped (not
 * failed) and reports the first one only, since every later batch would say the same.
 */
export class SinkFullError extends Error {
  override readonly name = 'SinkFullError';
}

/** A sampled prediction. */
export interface PredictionRecord {
  readonly kind: 'prediction';
  /** Epoch milliseconds. */
  readonly ts: number;
  readonly protocol: string;
  readonly requestId: string | undefined;
  readonly rows: number;
  /** `rows × features`, row-major. */
  readonly x: Float64Array;
  readonly y: Float64Array;
}

/** A Seldon feedback message. */
export interface FeedbackRecord {
  readonly kind: 'feedback';
  readonly ts: number;
  readonly requestId: string | undefined;
  readonly reward: number | undefined;
  readonly truth: unknown;
}

export type LogRecord = PredictionRecord | FeedbackRecord;

/** Options of {@link RequestLogger}. */
export interface RequestLoggerOptions {
  readonly sink: LogSink;
  /** The served model's name, version and features (for the lines). */
  readonly model: {
    readonly name: string;
    readonly version: string | undefined;
    readonly features: readonly string[];
  };
  /** Fraction of predictions logged, 0 to 1. @default 1 */
  readonly sampleRate?: number;
  /** Records per batch. @default 1000 */
  readonly batchSize?: number;
  /** Longest a record waits before its batch is written, in ms. @default 1000 */
  readonly flushIntervalMs?: number;
  /** Records held at most (queued + being written); more are dropped. @default 20000 */
  readonly maxQueue?: number;
  /** Counts outcomes (the model server wires its metrics here). @default - not counted */
  readonly onOutcome?: (outcome: 'written' | 'dropped' | 'failed', records: number) => void;
  /** Reports sink errors. @default - written to stderr, at most once a minute */
  readonly onError?: (err: unknown) => void;
  /** The sampling source, replaceable in tests. @default Math.random */
  readonly random?: () => number;
}

/**
 * The sampled, batched request logger.
 *
 * @example
 * const logger = new RequestLogger({ sink: new DirectorySink('.mlops/lake/predictions'), model: served, sampleRate: 0.1 });
 * if (logger.sampled()) logger.push({ kind: 'prediction', ts: Date.now(), protocol: 'oip', requestId: id, rows, x, y });
 * await logger.close();
 */
export class RequestLogger {
  readonly sampleRate: number;
  private readonly sink: LogSink;
  private readonly batchSize: number;
  private readonly maxQueue: number;
  private readonly random: () => number;
  /** Counts outcomes; {@link startModelServer} points it at the server's metrics. */
  onOutcome: NonNullable<RequestLoggerOptions['onOutcome']>;
  private readonly onError: (err: unknown) => void;
  private readonly prefix: string;
  private readonly featureKeys: string[];
  private queue: LogRecord[] = [];
  private inFlight: Promise<void> | undefined;
  private inFlightCount = 0;
  private scheduled = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private fullReported = false;

  constructor(options: RequestLoggerOptions) {
    const rate = options.sampleRate ?? 1;
    if (!(rate >= 0 && rate <= 1))
      throw new Error(`sampleRate must be between 0 and 1, but ${rate} was provided`);
    this.sampleRate = rate;
    this.sink = options.sink;
    this.batchSize = Math.max(1, options.batchSize ?? 1000);
    this.maxQueue = Math.max(this.batchSize, options.maxQueue ?? 20_000);
    this.random = options.random ?? Math.random;
    this.onOutcome = options.onOutcome ?? (() => {});
    let lastReport = 0;
    this.onError =
      options.onError ??
      ((err) => {
        if (Date.now() - lastReport < 60_000) return;
        lastReport = Date.now();
        process.stderr.write(
          `[request-log] sink failed, batch dropped: ${(err as Error).message ?? String(err)}\n`,
        );
      });
    const m = options.model;
    this.prefix = `"model":${JSON.stringify(m.name)},"version":${m.version === undefined ? 'null' : JSON.stringify(m.version)}`;
    this.featureKeys = m.features.map((f) => JSON.stringify(f) + ':');
    this.timer = setInterval(() => this.flushSoon(), options.flushIntervalMs ?? 1000);
    // The timer must not keep a process alive that has nothing else to do.
    this.timer.unref();
  }

  /** Records queued or being written. */
  get depth(): number {
    return this.queue.length + this.inFlightCount;
  }

  /** Decides whether this prediction is logged; call before building a record. */
  sampled(): boolean {
    return this.sampleRate >= 1 || (this.sampleRate > 0 && this.random() < this.sampleRate);
  }

  /** Queues a record, or drops and counts it when the queue is full or the logger closed. */
  push(record: LogRecord): void {
    if (this.closed || this.depth >= this.maxQueue) {
      this.onOutcome('dropped', 1);
      return;
    }
    this.queue.push(record);
    if (this.queue.length >= this.batchSize) this.flushSoon();
  }

  /**
   * Stops taking records and writes the queued ones; resolves when done or after `timeoutMs`
   * (what is left then is counted as dropped). Later calls return the first call's promise.
   */
  close(timeoutMs = 5000): Promise<void> {
    this.closing ??= this.drain(timeoutMs);
    return this.closing;
  }

  private async drain(timeoutMs: number): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    let timedOut = false;
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()).then(() => {
      timedOut = true;
    });
    const drain = (async () => {
      while (!timedOut && (this.inFlight !== undefined || this.queue.length > 0)) {
        if (this.inFlight === undefined) this.writeNext();
        await this.inFlight;
      }
    })();
    await Promise.race([drain, deadline]);
    if (this.queue.length > 0) {
      this.onOutcome('dropped', this.queue.length);
      this.queue = [];
    }
  }

  private flushSoon(): void {
    if (this.scheduled || this.inFlight !== undefined || this.queue.length === 0) return;
    this.scheduled = true;
    // setImmediate: the batch is serialised after the responses of this turn have been written.
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight === undefined) this.writeNext();
    });
  }

  private writeNext(): void {
    const batch = this.queue.length <= this.batchSize ? this.queue : this.queue.slice(0, this.batchSize);
    this.queue = batch === this.queue ? [] : this.queue.slice(this.batchSize);
    if (batch.length === 0) return;
    this.inFlightCount = batch.length;
    this.inFlight = this.writeBatch(batch).finally(() => {
      this.inFlight = undefined;
      this.inFlightCount = 0;
      if (this.queue.length >= this.batchSize) this.flushSoon();
    });
  }

  private async writeBatch(records: readonly LogRecord[]): Promise<void> {
    const days = new Map<string, { body: string; lines: number; records: number }>();
    for (const r of records) {
      const iso = new Date(r.ts).toISOString();
      const dt = iso.slice(0, 10);
      let day = days.get(dt);
      if (day === undefined) {
        day = { body: '', lines: 0, records: 0 };
        days.set(dt, day);
      }
      day.records++;
      const head = `{"ts":"${iso}",${this.prefix}`;
      const id = r.requestId === undefined ? 'null' : JSON.stringify(r.requestId);
      if (r.kind === 'feedback') {
        day.body += `${head},"kind":"feedback","request_id":${id},"reward":${r.reward ?? null},"truth":${safeJson(r.truth)}}\n`;
        day.lines++;
        continue;
      }
      const f = this.featureKeys.length;
      const rowHead = `${head},"protocol":"${r.protocol}","request_id":${id},"row":`;
      for (let i = 0; i < r.rows; i++) {
        let line = rowHead + i + ',"features":{';
        for (let j = 0; j < f; j++) line += (j === 0 ? '' : ',') + this.featureKeys[j] + r.x[i * f + j];
        day.body += line + '},"prediction":' + r.y[i] + '}\n';
        day.lines++;
      }
    }
    for (const [dt, day] of days) {
      try {
        await this.sink.write({ dt, body: day.body, lines: day.lines });
        this.onOutcome('written', day.records);
      } catch (err) {
        if (err instanceof SinkFullError) {
          this.onOutcome('dropped', day.records);
          if (!this.fullReported) this.onError(err);
          this.fullReported = true;
          continue;
        }
        this.onOutcome('failed', day.records);
        this.onError(err);
      }
    }
  }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? 'null';
  } catch {
    return 'null';
  }
}

/** A unique, time-ordered object name for a batch: `part-<epoch ms>-<random>.jsonl`. */
function partName(): string {
  return `part-${Date.now()}-${randomBytes(6).toString('hex')}.jsonl`;
}

/** Options of {@link DirectorySink}. */
export interface DirectorySinkOptions {
  /**
   * Most bytes the directory may hold (what earlier runs wrote included); a batch that would pass
   * it is refused with {@link SinkFullError}. @default - no cap
   */
  readonly maxBytes?: number;
}

/**
 * Writes each batch as a new file `<dir>/dt=YYYY-MM-DD/part-….jsonl`: the local lake's layout.
 *
 * @example
 * new DirectorySink('.mlops/state/s3/datalake-raw/predictions/wine-quality', { maxBytes: 64 * 1024 * 1024 });
 */
export class DirectorySink implements LogSink {
  /** Bytes under `dir`, counted once on the first write (earlier runs' files) and kept up to date. */
  private used: Promise<number> | undefined;

  constructor(
    readonly dir: string,
    private readonly options: DirectorySinkOptions = {},
  ) {}

  async write(batch: LogBatch): Promise<void> {
    const { maxBytes } = this.options;
    const bytes = Buffer.byteLength(batch.body);
    if (maxBytes !== undefined) {
      this.used ??= sizeOfTree(this.dir);
      const used = await this.used;
      if (used + bytes > maxBytes) {
        throw new SinkFullError(
          `the request log in ${this.dir} reached its cap of ${formatSize(maxBytes)}; further predictions are not logged (delete the directory to log again)`,
        );
      }
      // Counted before the write, so concurrent batches cannot both pass the cap.
      this.used = Promise.resolve(used + bytes);
    }
    const dir = join(this.dir, `dt=${batch.dt}`);
    await mkdir(dir, { recursive: true });
    // 'wx': never overwrite another writer's batch.
    await writeFile(join(dir, partName()), batch.body, { flag: 'wx' });
  }
}

async function sizeOfTree(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return 0; // not created yet
  }
  let total = 0;
  for (const e of entries) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  }
  return total;
}

const formatSize = (bytes: number) =>
  bytes >= 1024 * 1024
    ? `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`
    : `${Math.round((bytes / 1024) * 10) / 10} KiB`;

/** The object-store write {@link S3Sink} needs (`s3Objects` in lib/adapters/s3 implements it). */
export interface ObjectWriter {
  put(bucket: string, key: string, body: string, contentType: string): Promise<unknown>;
}

/**
 * PUTs each batch to `s3://<bucket>/<prefix>dt=YYYY-MM-DD/part-….jsonl`.
 *
 * @example
 * new S3Sink({ objects: s3Objects(s3Client()), bucket: 'datalake-raw', prefix: 'predictions/wine-quality/' });
 */
export class S3Sink implements LogSink {
  readonly bucket: string;
  readonly prefix: string;
  private readonly objects: ObjectWriter;

  constructor(options: { readonly objects: ObjectWriter; readonly bucket: string; readonly prefix?: string }) {
    this.objects = options.objects;
    this.bucket = options.bucket;
    const prefix = options.prefix ?? '';
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : prefix + '/';
  }

  async write(batch: LogBatch): Promise<void> {
    await this.objects.put(
      this.bucket,
      `${this.prefix}dt=${batch.dt}/${partName()}`,
      batch.body,
      'application/x-ndjson',
    );
  }
}
