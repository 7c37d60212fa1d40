/**
 * Loads the model to serve from where the platform keeps it:
 *
 * | location                                   | read as                                              |
 * |--------------------------------------------|------------------------------------------------------|
 * | a directory                                | `<dir>/model.json` (the trainer's `/opt/ml/model`)   |
 * | a `.tar.gz` / `.tgz` file                  | `model.json` at the top of the archive               |
 * | `s3://bucket/…/model.tar.gz` (or `.tgz`)   | SageMaker's artifact, gunzipped and untarred         |
 * | `s3://bucket/…/model.json`                 | the description itself                               |
 * | `s3://bucket/prefix[/]`                    | `prefix/model.json`, else `prefix/model.tar.gz`      |
 *
 * S3 goes through `@aws-sdk/client-s3`, which reads `AWS_ENDPOINT_URL_S3` itself. With an IP
 * endpoint (`http://127.0.0.1:port`, what the local environment advertises) the SDK already uses
 * path-style addressing; with a host name such as `localhost` or a compose service name it would
 * use virtual-hosted style (`bucket.localhost`), which does not resolve, so {@link createS3Client}
 * forces path style for any custom endpoint outside `amazonaws.com`.
 */
import { readFile, stat } from 'node:fs/promises';
import { GetObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { type LinearModel, loadModelDir, MODEL_FILE, ModelFormatError, parseModel } from '../model/format';
import { readFileFromTarGz, TarError } from './tar';

/** A bucket and a key. */
export interface S3Uri {
  readonly bucket: string;
  readonly key: string;
}

/**
 * Splits an `s3://bucket/key` URI; `undefined` for anything else.
 *
 * @example
 * parseS3Uri('s3://models/wine/model.tar.gz'); // { bucket: 'models', key: 'wine/model.tar.gz' }
 */
export function parseS3Uri(uri: string): S3Uri | undefined {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  return m === null ? undefined : { bucket: m[1]!, key: m[2]! };
}

/**
 * Builds an S3 client from the environment, forcing path-style addressing for custom endpoints
 * outside AWS (see the module note).
 *
 * @example
 * const s3 = createS3Client(); // honours AWS_ENDPOINT_URL_S3, AWS_REGION, the credentials chain
 * const local = createS3Client({ AWS_ENDPOINT_URL_S3: 'http://localhost:4566' }, { credentials: { accessKeyId: 'l', secretAccessKey: 'l' } });
 */
export function createS3Client(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<S3ClientConfig> = {},
): S3Client {
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const config: S3ClientConfig = {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    ...overrides,
  };
  if (endpoint !== undefined && endpoint !== '') {
    let host: string;
    try {
      host = new URL(endpoint).hostname;
    } catch {
      throw new ModelFormatError(
        `AWS_ENDPOINT_URL_S3 must be a URL, but ${JSON.stringify(endpoint)} was provided`,
      );
    }
    config.endpoint = endpoint;
    config.forcePathStyle = !host.endsWith('.amazonaws.com');
  }
  return new S3Client(config);
}

function isArchive(name: string): boolean {
  return name.endsWith('.tar.gz') || name.endsWith('.tgz');
}

function fromArchive(tgz: Buffer, where: string): LinearModel {
  let file: Buffer | undefined;
  try {
    file = readFileFromTarGz(tgz, MODEL_FILE);
  } catch (err) {
    if (err instanceof TarError) throw new ModelFormatError(`${where}: ${err.message}`);
    throw err;
  }
  if (file === undefined) throw new ModelFormatError(`${where} has no ${MODEL_FILE} at its top level`);
  return fromJson(file, `${where}!${MODEL_FILE}`);
}

function fromJson(bytes: Buffer, where: string): LinearModel {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ModelFormatError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  return parseModel(json, where);
}

async function getObject(s3: S3Client, bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NoSuchKey' || name === 'NotFound') return undefined;
    throw new ModelFormatError(`cannot read s3://${bucket}/${key}: ${(err as Error).message}`);
  }
}

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** The client for `s3://` locations. @default createS3Client() */
  readonly s3?: S3Client;
}

/**
 * Loads and validates the model at `location` (see the module note for what a location may be).
 *
 * @example
 * const model = await loadModel('s3://artifacts/training/job-1/output/model.tar.gz');
 * const local = await loadModel('.mlops/models/wine-quality');
 */
export async function loadModel(location: string, options: LoadModelOptions = {}): Promise<LinearModel> {
  const s3Uri = parseS3Uri(location);
  if (s3Uri === undefined) {
    let isDir: boolean;
    try {
      isDir = (await stat(location)).isDirectory();
    } catch (err) {
      throw new ModelFormatError(`cannot read ${location}: ${(err as Error).message}`);
    }
    if (isDir) return loadModelDir(location);
    const bytes = await readFile(location);
    return isArchive(location) ? fromArchive(bytes, location) : fromJson(bytes, location);
  }
  const s3 = options.s3 ?? createS3Client();
  const { bucket, key } = s3Uri;
  const tryKey = async (k: string) => {
    const bytes = await getObject(s3, bucket, k);
    if (bytes === undefined) return undefined;
    const where = `s3://${bucket}/${k}`;
    return isArchive(k) ? fromArchive(bytes, where) : fromJson(bytes, where);
  };
  if (isArchive(key) || key.endsWith('.json')) {
    const model = await tryKey(key);
    if (model === undefined) throw new ModelFormatError(`s3://${bucket}/${key} does not exist`);
    return model;
  }
  const prefix = key === '' || key.endsWith('/') ? key : key + '/';
  const model = (await tryKey(prefix + MODEL_FILE)) ?? (await tryKey(prefix + 'model.tar.gz'));
  if (model === undefined) {
    throw new ModelFormatError(`s3://${bucket}/${prefix} holds neither ${MODEL_FILE} nor model.tar.gz`);
  }
  return model;
}
