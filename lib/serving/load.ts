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
 *
 * With an {@link ExpectedArtifact} (what the registry recorded: `mlops.artifact_sha256` and
 * `mlops.artifact_version_id`), the one object named is read at that S3 object version and its
 * SHA-256 checked before anything is unpacked: an artifact replaced or altered after registration
 * is refused with {@link ArtifactDigestError}, and the server never starts (the pod never becomes
 * ready).
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { ModelArchiveError, readModelFromArchive } from '../model/archive';
import { type LinearModel, loadModelDir, MODEL_FILE, ModelFormatError, parseModel } from '../model/format';
import { parseS3Uri } from '../shared/s3-uri';

/** The object store the model server reads models from and writes request-log batches to. */
export interface ModelObjects {
  /** The object's bytes (at `versionId` when given); `undefined` when there is no such object or version. */
  find(bucket: string, key: string, versionId?: string): Promise<Uint8Array | undefined>;
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

async function getObject(
  objects: ModelObjects,
  bucket: string,
  key: string,
  versionId?: string,
): Promise<Uint8Array | undefined> {
  try {
    return await objects.find(bucket, key, versionId);
  } catch (err) {
    const at = versionId === undefined ? '' : ` (version ${versionId})`;
    throw new ModelFormatError(`cannot read s3://${bucket}/${key}${at}: ${(err as Error).message}`);
  }
}

/** What the registry recorded of the artifact a version serves. */
export interface ExpectedArtifact {
  /** Hex SHA-256 of the artifact's bytes (`mlops.artifact_sha256`). @default - not checked */
  readonly sha256?: string;
  /** The S3 object version to read (`mlops.artifact_version_id`). @default - the current version */
  readonly versionId?: string;
}

/** The artifact is not the one the registry recorded: it is refused, never served. */
export class ArtifactDigestError extends Error {
  override readonly name = 'ArtifactDigestError';
}

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** The object store for `s3://` locations. @default - `s3://` locations are refused */
  readonly objects?: ModelObjects;
  /** The digest and object version to hold the artifact to. @default - whatever is at the location */
  readonly expected?: ExpectedArtifact;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Throws unless `bytes` hash to `expected.sha256` (when one is expected). */
function verifyDigest(bytes: Uint8Array, where: string, expected: ExpectedArtifact | undefined): void {
  if (expected?.sha256 === undefined) return;
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== expected.sha256) {
    throw new ArtifactDigestError(
      `${where} has SHA-256 ${actual}, but the registry recorded ${expected.sha256} (mlops.artifact_sha256): ` +
        'the artifact changed after registration, so it is not served',
    );
  }
}

function checkExpected(location: string, key: string | undefined, expected: ExpectedArtifact | undefined): void {
  if (expected === undefined) return;
  if (expected.sha256 !== undefined && !SHA256_HEX.test(expected.sha256)) {
    throw new ArtifactDigestError(
      `the expected SHA-256 must be 64 lowercase hex digits, but ${JSON.stringify(expected.sha256)} was provided`,
    );
  }
  if (expected.versionId !== undefined && key === undefined) {
    throw new ArtifactDigestError(`an object version pins an s3:// artifact, but ${location} is a local path`);
  }
  if (key !== undefined && !(isArchive(key) || key.endsWith('.json'))) {
    throw new ArtifactDigestError(
      `a digest or object version holds one object (a model.tar.gz or model.json), but ${location} is a prefix`,
    );
  }
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
  const { expected } = options;
  if (s3Uri === undefined) {
    checkExpected(location, undefined, expected);
    let isDir: boolean;
    try {
      isDir = (await stat(location)).isDirectory();
    } catch (err) {
      throw new ModelFormatError(`cannot read ${location}: ${(err as Error).message}`);
    }
    if (isDir) {
      if (expected?.sha256 !== undefined) {
        throw new ArtifactDigestError(`a digest holds one file (a model.tar.gz or model.json), but ${location} is a directory`);
      }
      return loadModelDir(location);
    }
    const bytes = await readFile(location);
    verifyDigest(bytes, location, expected);
    return isArchive(location) ? fromArchive(bytes, location) : fromJson(bytes, location);
  }
  checkExpected(location, s3Uri.key, expected);
  const { objects } = options;
  if (objects === undefined) {
    throw new ModelFormatError(`cannot read ${location}: this server was started without an object store`);
  }
  const { bucket, key } = s3Uri;
  const versionId = expected?.versionId;
  const tryKey = async (k: string) => {
    const bytes = await getObject(objects, bucket, k, versionId);
    if (bytes === undefined) return undefined;
    const where = `s3://${bucket}/${k}${versionId === undefined ? '' : ` (version ${versionId})`}`;
    verifyDigest(bytes, where, expected);
    return isArchive(k) ? fromArchive(bytes, where) : fromJson(bytes, where);
  };
  if (isArchive(key) || key.endsWith('.json')) {
    const model = await tryKey(key);
    if (model === undefined) {
      const missing = versionId === undefined ? 'does not exist' : `has no version ${versionId}`;
      throw new ModelFormatError(`s3://${bucket}/${key} ${missing}`);
    }
    return model;
  }
  const prefix = key === '' || key.endsWith('/') ? key : key + '/';
  const model = (await tryKey(prefix + MODEL_FILE)) ?? (await tryKey(prefix + 'model.tar.gz'));
  if (model === undefined) {
    throw new ModelFormatError(`s3://${bucket}/${prefix} holds neither ${MODEL_FILE} nor model.tar.gz`);
  }
  return model;
}
