/** The console's typed clients of the platform's public APIs. */
export { ApiError, errorFromBody, postJson, type Protocol, requestJson, requestText } from './http';
export { config, type ConsoleConfig, loadConfig, setConfig } from './config';
export { sfn, sfnCall } from './sfn';
export type * from './sfn';
export { mlflow, mlflowGet, mlflowPost } from './mlflow';
export type { ModelVersion, RegisteredModel } from './mlflow';
export { serving } from './serving';
export { s3 } from './s3';
export { feast } from './feast';
export { delta, histogramQuantile, parsePrometheus, total, type Sample } from './prometheus';
