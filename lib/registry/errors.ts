/**
 * MLflow's error vocabulary. The core throws {@link MlflowError}; the HTTP adapter serialises it as
 * `{"error_code", "message"}` with the status MLflow's `ERROR_CODE_TO_HTTP_STATUS` assigns, so clients
 * that branch on `error_code` (the official Python client does) behave as against a real server.
 */

/** The MLflow `ErrorCode` names this service emits. */
export type MlflowErrorCode =
  | 'INVALID_PARAMETER_VALUE'
  | 'RESOURCE_ALREADY_EXISTS'
  | 'RESOURCE_DOES_NOT_EXIST'
  | 'ENDPOINT_NOT_FOUND'
  | 'BAD_REQUEST'
  | 'RESOURCE_CONFLICT'
  | 'INVALID_STATE'
  | 'PERMISSION_DENIED'
  | 'NOT_IMPLEMENTED'
  | 'INTERNAL_ERROR'
  | 'TEMPORARILY_UNAVAILABLE';

const HTTP_STATUS: Record<MlflowErrorCode, number> = {
  INVALID_PARAMETER_VALUE: 400,
  // MLflow maps "already exists" to 400, not 409: clients check the code, not the status.
  RESOURCE_ALREADY_EXISTS: 400,
  BAD_REQUEST: 400,
  RESOURCE_DOES_NOT_EXIST: 404,
  ENDPOINT_NOT_FOUND: 404,
  RESOURCE_CONFLICT: 409,
  // MLflow answers INVALID_STATE with 500; it is the caller's request that does not fit the state
  // (renaming a deleted experiment), so this service answers 400 with MLflow's code.
  INVALID_STATE: 400,
  PERMISSION_DENIED: 403,
  NOT_IMPLEMENTED: 501,
  INTERNAL_ERROR: 500,
  TEMPORARILY_UNAVAILABLE: 503,
};

/**
 * An error MLflow itself would raise, carrying its `error_code`.
 *
 * @example
 * throw new MlflowError('RESOURCE_DOES_NOT_EXIST', `Registered Model with name=${name} not found`);
 */
export class MlflowError extends Error {
  override readonly name = 'MlflowError';

  constructor(
    readonly errorCode: MlflowErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** The HTTP status MLflow's server answers with for this error code. */
  get httpStatus(): number {
    return HTTP_STATUS[this.errorCode];
  }

  /** The JSON body MLflow's `serialize_as_json` produces. */
  toJSON(): { error_code: MlflowErrorCode; message: string } {
    return { error_code: this.errorCode, message: this.message };
  }
}

/** `INVALID_PARAMETER_VALUE`, the code of almost every client mistake in MLflow. */
export const invalidParameter = (message: string): MlflowError =>
  new MlflowError('INVALID_PARAMETER_VALUE', message);

/** `RESOURCE_DOES_NOT_EXIST` (404). */
export const notFound = (message: string): MlflowError => new MlflowError('RESOURCE_DOES_NOT_EXIST', message);

/** `RESOURCE_ALREADY_EXISTS` (400, as MLflow). */
export const alreadyExists = (message: string): MlflowError =>
  new MlflowError('RESOURCE_ALREADY_EXISTS', message);

/** MLflow's wording for a required parameter that is absent or empty. */
export const missingValue = (param: string): MlflowError =>
  invalidParameter(
    `Missing value for required parameter '${param}'. See the API docs for more information about request parameters.`,
  );
