/** The local Lambda engine: function bundles in worker threads, with Lambda's env, context and limits. */
export {
  functionNameOf,
  type InvokeResult,
  type LambdaEngineOptions,
  LambdaEngine,
  type LambdaErrorPayload,
  type LambdaFunctionSpec,
} from './engine';
export { functionSpecFromResource } from './spec';
