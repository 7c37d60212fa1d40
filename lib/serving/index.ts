/** The kit's model server: Seldon Core v1 and Open Inference Protocol v2 for the kit's linear models. */
export { describeValue } from './describe';
export {
  ArtifactDigestError,
  type ExpectedArtifact,
  type LoadModelOptions,
  loadModel,
  type ModelObjects,
} from './load';
export { configFromEnv, type ServeConfig, serve, sinkFor, untilStopped } from './main';
export { LATENCY_BUCKETS, P99_WINDOW_MS, type RouteLabels, ServingMetrics } from './metrics';
export { compileModel, jsonNumbers, predictBatch, type ServedModel, type ServeIdentity } from './model';
export {
  checkOipModel,
  decodeOipRequest,
  encodeOipResponse,
  INPUT_NAME,
  OipError,
  type OipRequest,
  oipErrorBody,
  oipModelMetadata,
  oipResponder,
  oipServerMetadata,
  OUTPUT_NAME,
} from './oip';
export {
  DirectorySink,
  type DirectorySinkOptions,
  type FeedbackRecord,
  type LogBatch,
  type LogRecord,
  type LogSink,
  type ObjectWriter,
  type PredictionRecord,
  RequestLogger,
  type RequestLoggerOptions,
  REQUEST_LOG_PREFIX,
  requestLogDeploymentDir,
  S3Sink,
  SinkFullError,
} from './request-log';
export {
  decodeSeldonFeedback,
  decodeSeldonRequest,
  encodeSeldonResponse,
  executorErrorBody,
  SeldonError,
  type SeldonFeedback,
  type SeldonRequest,
  seldonErrorBody,
  seldonMetadata,
} from './seldon';
export {
  DEFAULT_MAX_BODY_BYTES,
  type ModelServer,
  type ModelServerOptions,
  REQUEST_ID_HEADER,
  startModelServer,
} from './server';
