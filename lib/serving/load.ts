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
 * S3 locations are read through the {@link ModelObjects} port (`s3Objects` in lib/adapters/s3 on
 * AWS and against the local S3 engine); directories and files from the disk.
 */
import { readFile, stat } from 'node:fs/promises';
import { ModelArchiveError, readModelFromArchive } from '../model/archive';
import { type LinearModel, loadModelDir, MODEL_FILE, ModelFormatError, parseModel } from '../model/format';
import { parseS3Uri } from '../shared/s3-uri';

/** The object store the model server reads models from and writes request-log batches to. */
export interface ModelObjects {
  /** The object's bytes; `undefined` when there is no such object. */
  find(bucket: string, key: string): Promise<Uint8Array | undefined>;
  put(bucket: string, key: string, body: string | Uint8Array, contentType: string): Promise<unknown>;
}

function isArchive(name: string): boolean {
  return name.endsWith('.tar.gz') || name.endsWith('.tgz');
}

function fromArchive(tgz: Uint8Array, where: string): LinearModel {
  try {
    return readModelFromArchive(tgz, where);
  } catch (err) {
    // The server reports every unreadable model alike (`mlops serve` exits 1 with the sentence).
    if (err instanceof ModelArchiveError) throw new ModelFormatError(`${where}: ${err.message}`);
    throw err;
  }
}

function fromJson(bytes: Uint8Array, where: string): LinearModel {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new ModelFormatError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
  return parseModel(json, where);
}

async function getObject(objects: ModelObjects, bucket: string, key: string): Promise<Uint8Array | undefined> {
  try {
    return await objects.find(bucket, key);
  } catch (err) {
    throw new ModelFormatError(`cannot read s3://${bucket}/${key}: ${(err as Error).message}`);
  }
}

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** The object store for `s3://` locations. @default - `s3://` locations are refused */
  readonly objects?: ModelObjects;
}

/**
 * Loads and validates the model at `location` (see the module note for what a location may be).
 *
 * @example
 * const model = await loadModel('s3://artifacts/training/job-1/output/model.tar.gz', { objects: s3Objects(s3Client()) });
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
  const { objects } = options;
  if (objects === undefined) {
    throw new ModelFormatError(`cannot read ${location}: this server was started without an object store`);
  }
  const { bucket, key } = s3Uri;
  const tryKey = async (k: string) => {
    const bytes = await getObject(objects, bucket, k);
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
