/**
 * Errors the pipeline Lambdas throw on purpose. Step Functions matches a Lambda's error by its
 * `name` (the `errorType` of the function error), so each class's name is what a Catch or the
 * execution history shows: a user reading "DataValidationError" knows the data, not the platform,
 * needs fixing.
 */

/** The execution input is malformed; nothing was read or written. */
export class PipelineInputError extends Error {
  override readonly name = 'PipelineInputError';
}

/** The dataset failed validation (schema, row count, missing or non-numeric values, ranges). */
export class DataValidationError extends Error {
  override readonly name = 'DataValidationError';
}

/**
 * A step tried to write an artifact that already exists with other bytes. Artifacts are written
 * once (each writer sends `If-None-Match: *`, and the bucket policy refuses writes without it):
 * nothing replaces a model, a split or a baseline that a registered version may name.
 */
export class ArtifactExistsError extends Error {
  override readonly name = 'ArtifactExistsError';
}

/** The model registry answered with an error the step cannot recover from. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  constructor(
    message: string,
    readonly status: number,
    readonly errorCode?: string,
  ) {
    super(message);
  }
}

/**
 * The registry could not be reached or answered 429 / 5xx: the state machine retries this one with
 * backoff, where a {@link RegistryError} (a 4xx) would fail the same way again.
 */
export class RegistryUnavailableError extends Error {
  override readonly name = 'RegistryUnavailableError';
}
