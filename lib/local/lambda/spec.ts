/**
 * `AWS::Lambda::Function` template resources → {@link LambdaFunctionSpec}. Pure: the caller
 * passes the resource, a resolver for intrinsics and the asset directory the assembly reader
 * found for the function's code.
 */
import type { LambdaFunctionSpec } from './engine';

/**
 * Builds a function spec from its template resource.
 *
 * @example
 * const spec = functionSpecFromResource('Predict', resources.Predict, resolve, {
 *   codeDir: 'cdk.out/asset.4f1e…',
 *   physicalName: 'local-predict',
 * });
 * lambda.register(spec);
 */
export function functionSpecFromResource(
  logicalId: string,
  resource: { readonly Type: string; readonly Properties?: Readonly<Record<string, unknown>> },
  resolve: (value: unknown) => unknown,
  where: { readonly codeDir: string; readonly physicalName?: string },
): LambdaFunctionSpec {
  if (resource.Type !== 'AWS::Lambda::Function') {
    throw new Error(
      `Resource ${logicalId} must be an AWS::Lambda::Function, but ${resource.Type} was provided.`,
    );
  }
  const p = (resolve(resource.Properties ?? {}) ?? {}) as Record<string, unknown>;
  const handler = p['Handler'];
  if (typeof handler !== 'string') {
    throw new Error(
      `Function ${logicalId} must have a Handler, but ${JSON.stringify(handler)} was provided.`,
    );
  }
  const variables = ((p['Environment'] as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
    {}) as Record<string, unknown>;
  const environment = Object.fromEntries(
    Object.entries(variables).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
  return {
    name: (p['FunctionName'] as string | undefined) ?? where.physicalName ?? logicalId,
    codeDir: where.codeDir,
    handler,
    environment,
    ...(p['Timeout'] !== undefined ? { timeoutSeconds: Number(p['Timeout']) } : {}),
    ...(p['MemorySize'] !== undefined ? { memorySizeMb: Number(p['MemorySize']) } : {}),
    ...(typeof p['Runtime'] === 'string' ? { runtime: p['Runtime'] } : {}),
    ...(p['ReservedConcurrentExecutions'] !== undefined
      ? { maxConcurrency: Math.max(1, Number(p['ReservedConcurrentExecutions'])) }
      : {}),
  };
}
