/**
 * A training run's data version as an object in the lake (issue 19): the list of every input object
 * with its S3 version and ETag is written once (`putOnce`) as `data-version.json` under the run's
 * `runs/` prefix, which only "Validate data" writes (see ./artifact-layout.ts), and the state, the
 * trainer's `MLOPS_DATA_VERSION` and the registry carry only a reference to it: its URI, the SHA-256
 * of its bytes and the number of objects it lists. The list grows with the dataset; the reference
 * does not, so a dataset of any number of objects stays far below Step Functions' 256 KB state limit.
 *
 * @example
 * const ref = await writeDataVersion(objects, 's3://artifacts/runs/m/run-1/data-version.json', document);
 * ref; // { uri: 's3://artifacts/runs/m/run-1/data-version.json', sha256: '9f…', objects: 2100 }
 */
import { createHash } from 'node:crypto';
import { parseS3Uri } from './catalog';
import type { ObjectStore } from './objects';

/** One object read, its S3 version (absent for an unversioned bucket) and ETag. */
export interface ObjectVersion {
  readonly key: string;
  readonly version_id?: string;
  readonly etag?: string;
}

/** What `data-version.json` holds. */
export interface DataVersion {
  readonly source: string;
  readonly objects: readonly ObjectVersion[];
  /** With a feature service: the offline tables the features were read from, each object's version. */
  readonly features?: readonly { readonly source: string; readonly objects: readonly ObjectVersion[] }[];
}

/** What the state and the registry carry instead of the list. */
export interface DataVersionRef {
  /** `s3://…/runs/<model>/<execution>/data-version.json`. */
  readonly uri: string;
  /** Hex SHA-256 of the object's bytes: a reader verifies the list it downloads against it. */
  readonly sha256: string;
  /** Input objects listed (the dataset's plus, with a feature service, the offline tables'). */
  readonly objects: number;
  /** The S3 version of `data-version.json` itself (absent for an unversioned bucket). */
  readonly version_id?: string;
}

/** The bytes written for a data version: stable JSON (keys in the order above), one trailing newline. */
export function dataVersionBody(version: DataVersion): string {
  return `${JSON.stringify(version, null, 2)}\n`;
}

export const countObjects = (version: DataVersion): number =>
  version.objects.length + (version.features ?? []).reduce((n, f) => n + f.objects.length, 0);

/**
 * Writes `version` once at `uri` (a retried step finding its own bytes succeeds; other bytes throw
 * `ArtifactExistsError`) and returns the reference the state carries.
 */
export async function writeDataVersion(objects: ObjectStore, uri: string, version: DataVersion): Promise<DataVersionRef> {
  const { bucket, key } = parseS3Uri(uri, 'the data version location');
  const body = dataVersionBody(version);
  const { versionId } = await objects.putOnce(bucket, key, body, 'application/json');
  return {
    uri,
    sha256: createHash('sha256').update(body).digest('hex'),
    objects: countObjects(version),
    ...(versionId ? { version_id: versionId } : {}),
  };
}

/**
 * The trainer's `MLOPS_DATA_VERSION` (at most 512 characters, SageMaker's limit on a variable): the
 * one object the model's data version is, `data-version.json` with its version and digest, in the
 * `{ source, objects: [{ key, version_id, sha256 }] }` shape the trainer records in `model.json`.
 */
export function trainerDataVersion(ref: DataVersionRef): string {
  const { bucket, key } = parseS3Uri(ref.uri, 'the data version location');
  return JSON.stringify({
    source: `s3://${bucket}/`,
    objects: [{ key, ...(ref.version_id ? { version_id: ref.version_id } : {}), sha256: ref.sha256 }],
  });
}
