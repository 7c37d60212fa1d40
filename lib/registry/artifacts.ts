/**
 * `artifacts/list`: the port the tracking API lists a run's artifacts through (the S3 adapter is
 * `lib/adapters/s3/artifact-lister.ts`), and MLflow's rule for a safe artifact path.
 */
import { invalidParameter } from './errors';

/** One entry of `artifacts/list`, MLflow's `FileInfo`: `path` is relative to the run's root. */
export interface FileInfoJson {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

export interface ArtifactLister {
  /** The entries directly under `<rootUri>/<path>`, sorted by path (MLflow's order). */
  list(rootUri: string, path: string | undefined): Promise<FileInfoJson[]>;
}

/**
 * MLflow's `validate_path_is_safe`: no `..` segment, no absolute or drive path, no backslash.
 * Throws `INVALID_PARAMETER_VALUE` `Invalid path: <path>`.
 */
export function assertSafeArtifactPath(path: string): void {
  if (path.includes('\\') || path.split('/').includes('..') || path.startsWith('/') || /^[A-Za-z]:/.test(path)) {
    throw invalidParameter(`Invalid path: ${path}`);
  }
}
