/**
 * Starting the model server from configuration: the container's environment (`MODEL_URI`,
 * `MODEL_NAME`, …) or the `mlops serve` options, resolved once, validated once, then model
 * loading, the request logger and the server wired together, and signals turned into a graceful stop.
 *
 * | env                                  | meaning                                               | default      |
 * |--------------------------------------|-------------------------------------------------------|--------------|
 * | `MODEL_URI`                          | model directory, `.tar.gz`, or `s3://…` (see load.ts) | required     |
 * | `MODEL_NAME`                         | name clients use                                      | `model`      |
 * | `MODEL_VERSION`                      | version served (OIP `model_version`)                  | unversioned  |
 * | `MODEL_SHA256`                       | the artifact's registered SHA-256; refused otherwise  | not checked  |
 * | `MODEL_VERSION_ID`                   | the S3 object version of the artifact to read         | current      |
 * | `PREDICTIVE_UNIT_HTTP_SERVICE_PORT`  | the port Seldon's operator assigns                    | –            |
 * | `PORT`                               | the port otherwise                                    | `9000`       |
 * | `HOST`                               | listen address                                        | `0.0.0.0`    |
 * | `REQUEST_LOG_URI`                    | request log: a directory or `s3://bucket/prefix`      | no log       |
 * | `REQUEST_LOG_SAMPLE_RATE`            | fraction of predictions logged                        | `1`          |
 * | `MAX_BODY_BYTES`                     | request body limit                                    | 8 MiB        |
 * | `DRAIN_DELAY_MS`                     | on SIGTERM, keep accepting (ready 503) this long      | `0`          |
 * | `PREDICTIVE_UNIT_ID`, `PREDICTIVE_UNIT_IMAGE` | Seldon `meta.requestPath` entry               | none         |
 */
import { z } from 'zod';
import { compileModel } from './model';
import { parseS3Uri } from '../shared/s3-uri';
import { type ExpectedArtifact, type LoadModelOptions, loadModel } from './load';
import { DirectorySink, type LogSink, RequestLogger, S3Sink } from './request-log';
import { DEFAULT_MAX_BODY_BYTES, type ModelServer, startModelServer } from './server';

/** Everything needed to serve a model. */
export interface ServeConfig {
  readonly modelUri: string;
  readonly modelName: string;
  readonly modelVersion?: string;
  /** The artifact's recorded digest and S3 object version. @default - whatever is at `modelUri` */
  readonly expected?: ExpectedArtifact;
  readonly host: string;
  readonly port: number;
  /** A directory or `s3://bucket/prefix` for the request log. @default - no request log */
  readonly requestLog?: string;
  /** @default 1 */
  readonly sampleRate?: number;
  /** @default DEFAULT_MAX_BODY_BYTES */
  readonly maxBodyBytes?: number;
  /** @default - none */
  readonly requestPath?: Readonly<Record<string, string>>;
  /** @default 0 */
  readonly drainDelayMs?: number;
}

const ENV_HINTS: Record<string, string> = {
  MODEL_URI: 'the model directory, a model.tar.gz, or an s3:// URI',
};

const port = z.coerce.number().int().min(0).max(65535);
const envSchema = z.object({
  MODEL_URI: z.string().min(1),
  MODEL_NAME: z.string().min(1).default('model'),
  MODEL_VERSION: z.string().min(1).optional(),
  MODEL_SHA256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits').optional(),
  MODEL_VERSION_ID: z.string().min(1).max(1024).optional(),
  PREDICTIVE_UNIT_HTTP_SERVICE_PORT: port.optional(),
  PORT: port.default(9000),
  HOST: z.string().min(1).default('0.0.0.0'),
  REQUEST_LOG_URI: z.string().min(1).optional(),
  REQUEST_LOG_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(1),
  MAX_BODY_BYTES: z.coerce.number().int().positive().default(DEFAULT_MAX_BODY_BYTES),
  DRAIN_DELAY_MS: z.coerce.number().int().min(0).default(0),
  PREDICTIVE_UNIT_ID: z.string().min(1).optional(),
  PREDICTIVE_UNIT_IMAGE: z.string().optional(),
});

/**
 * Reads the container's configuration from the environment; throws with a sentence naming the bad variable.
 *
 * @example
 * const config = configFromEnv({ MODEL_URI: 's3://artifacts/job-1/output/model.tar.gz', MODEL_NAME: 'wine-quality' });
 */
export function configFromEnv(env: Readonly<Record<string, string | undefined>>): ServeConfig {
  // Empty variables count as unset: Kubernetes manifests often template them to "".
  const set = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(set);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    if (set[name] === undefined) throw new Error(`${name} must be set (${ENV_HINTS[name] ?? 'required'})`);
    throw new Error(`${name} is invalid: ${issue.message}, but ${JSON.stringify(set[name])} was provided`);
  }
  const e = parsed.data;
  return {
    modelUri: e.MODEL_URI,
    modelName: e.MODEL_NAME,
    ...(e.MODEL_VERSION === undefined ? {} : { modelVersion: e.MODEL_VERSION }),
    ...(e.MODEL_SHA256 === undefined && e.MODEL_VERSION_ID === undefined
      ? {}
      : {
          expected: {
            ...(e.MODEL_SHA256 === undefined ? {} : { sha256: e.MODEL_SHA256 }),
            ...(e.MODEL_VERSION_ID === undefined ? {} : { versionId: e.MODEL_VERSION_ID }),
          },
        }),
    // The operator's assignment wins: it wires the Service to that port.
    port: e.PREDICTIVE_UNIT_HTTP_SERVICE_PORT ?? e.PORT,
    host: e.HOST,
    ...(e.REQUEST_LOG_URI === undefined ? {} : { requestLog: e.REQUEST_LOG_URI }),
    sampleRate: e.REQUEST_LOG_SAMPLE_RATE,
    maxBodyBytes: e.MAX_BODY_BYTES,
    drainDelayMs: e.DRAIN_DELAY_MS,
    ...(e.PREDICTIVE_UNIT_ID === undefined
      ? {}
      : { requestPath: { [e.PREDICTIVE_UNIT_ID]: e.PREDICTIVE_UNIT_IMAGE ?? '' } }),
  };
}

/**
 * Builds the request log's sink from a location: `s3://bucket/prefix` → {@link S3Sink} over the
 * object store, else a directory.
 *
 * @example
 * sinkFor('s3://datalake-raw/predictions/wine-quality/', { objects: s3Objects(s3Client()) });
 */
export function sinkFor(location: string, options: LoadModelOptions = {}): LogSink {
  const s3 = parseS3Uri(location);
  if (s3 === undefined) return new DirectorySink(location);
  if (options.objects === undefined) {
    throw new Error(`the request log ${location} needs an object store, but none was provided`);
  }
  return new S3Sink({ objects: options.objects, bucket: s3.bucket, prefix: s3.key });
}

/**
 * Loads the model and starts serving it.
 *
 * @example
 * const server = await serve({ modelUri: './model', modelName: 'wine-quality', host: '127.0.0.1', port: 9000 });
 * const fromS3 = await serve(configFromEnv(process.env), { objects: s3Objects(s3Client()) });
 */
export async function serve(config: ServeConfig, options: LoadModelOptions = {}): Promise<ModelServer> {
  const loadOptions = config.expected === undefined ? options : { ...options, expected: config.expected };
  const model = compileModel(await loadModel(config.modelUri, loadOptions), {
    name: config.modelName,
    ...(config.modelVersion === undefined ? {} : { version: config.modelVersion }),
  });
  const logger =
    config.requestLog === undefined
      ? undefined
      : new RequestLogger({
          sink: sinkFor(config.requestLog, options),
          model,
          sampleRate: config.sampleRate ?? 1,
        });
  return startModelServer({
    model,
    host: config.host,
    port: config.port,
    ...(logger === undefined ? {} : { logger }),
    ...(config.maxBodyBytes === undefined ? {} : { maxBodyBytes: config.maxBodyBytes }),
    ...(config.requestPath === undefined ? {} : { requestPath: config.requestPath }),
    ...(config.drainDelayMs === undefined ? {} : { drainDelayMs: config.drainDelayMs }),
  });
}

/**
 * Resolves after SIGTERM or SIGINT has stopped the server gracefully (drained, log flushed).
 *
 * @example
 * await untilStopped(server);
 * process.exit(0);
 */
export function untilStopped(server: ModelServer): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      void server.close().then(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
