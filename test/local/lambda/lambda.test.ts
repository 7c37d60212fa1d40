import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionSpecFromResource, LambdaEngine, type LambdaErrorPayload } from '../../../lib/local/lambda';

let root: string;
const logged: [string, string][] = [];
let engine: LambdaEngine;

/** Bundles `source` with esbuild as NodejsFunction would, into its own asset dir. */
async function bundle(name: string, source: string, format: 'cjs' | 'esm' = 'cjs'): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'src.ts'), source);
  await build({
    entryPoints: [join(dir, 'src.ts')],
    outfile: join(dir, format === 'esm' ? 'index.mjs' : 'index.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format,
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  return dir;
}

/** The ESM handler's bundle, registered again under other names by the prewarm tests. */
let esmDir: string;

const sleep = 'const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'mlops-lambda-'));
  engine = new LambdaEngine({
    region: 'eu-west-1',
    accountId: '123456789012',
    platformEnv: { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1' },
    log: (fn, line) => logged.push([fn, line]),
  });
  const envSource = `
    import type { Context } from 'aws-lambda';
    export const handler = async (event: { n: number }, context: Context) => {
      console.log('got', event.n);
      return {
        greeting: process.env.GREETING,
        n: event.n,
        hostOnly: process.env.MLOPS_TEST_HOST_ONLY ?? null,
        endpoint: process.env.AWS_ENDPOINT_URL_S3,
        reserved: {
          name: process.env.AWS_LAMBDA_FUNCTION_NAME, region: process.env.AWS_REGION,
          memory: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, handler: process.env._HANDLER,
          taskRoot: process.env.LAMBDA_TASK_ROOT, key: process.env.AWS_ACCESS_KEY_ID,
        },
        context: {
          awsRequestId: context.awsRequestId, functionName: context.functionName,
          invokedFunctionArn: context.invokedFunctionArn, memoryLimitInMB: context.memoryLimitInMB,
          logGroupName: context.logGroupName, remaining: context.getRemainingTimeInMillis(),
        },
      };
    };`;
  const envDir = await bundle('env', envSource);
  engine.register({
    name: 'hello-en',
    codeDir: envDir,
    handler: 'index.handler',
    environment: { GREETING: 'hello' },
    memorySizeMb: 256,
    timeoutSeconds: 5,
  });
  engine.register({
    name: 'hello-fr',
    codeDir: envDir,
    handler: 'index.handler',
    environment: { GREETING: 'bonjour' },
  });

  esmDir = await bundle(
    'esm',
    `export const handler = async (e: { x: number }) => ({ doubled: e.x * 2, when: new Date(0) });`,
    'esm',
  );
  engine.register({ name: 'esm', codeDir: esmDir, handler: 'index.handler' });
  engine.register({
    name: 'callback',
    codeDir: await bundle(
      'callback',
      `export function handler(e: unknown, _c: unknown, cb: (err: unknown, r?: unknown) => void) { setTimeout(() => cb(null, { echoed: e }), 5); }`,
    ),
    handler: 'index.handler',
  });
  engine.register({
    name: 'throws',
    codeDir: await bundle(
      'throws',
      `class ModelNotFound extends Error { override name = 'ModelNotFound'; }
      export const handler = async () => { throw new ModelNotFound('no model wine-v9'); };`,
    ),
    handler: 'index.handler',
  });
  engine.register({
    name: 'slow',
    codeDir: await bundle(
      'slow',
      `${sleep} export const handler = async (e: { ms: number }) => { await sleep(e.ms); return 'done'; };`,
    ),
    handler: 'index.handler',
    timeoutSeconds: 1,
  });
  engine.register({
    name: 'init-throws',
    codeDir: await bundle(
      'init-throws',
      `if (!process.env.TABLE_NAME) throw new Error('TABLE_NAME is not set'); export const handler = async () => 1;`,
    ),
    handler: 'index.handler',
  });
  engine.register({
    name: 'exits-at-init',
    codeDir: await bundle('exits-at-init', `process.exit(7); export const handler = async () => 1;`),
    handler: 'index.handler',
  });
  engine.register({
    name: 'exits-after',
    codeDir: await bundle(
      'exits-after',
      `export const handler = async () => { setTimeout(() => process.exit(3), 20); return 'answered'; };`,
    ),
    handler: 'index.handler',
  });
  engine.register({ name: 'missing-module', codeDir: envDir, handler: 'nope.handler' });
  engine.register({ name: 'missing-export', codeDir: envDir, handler: 'index.predict' });
}, 60_000);

afterAll(async () => {
  await engine.close();
  await rm(root, { recursive: true, force: true });
});

describe('LambdaEngine', () => {
  it('gives each function its own env, the reserved variables and a real context', async () => {
    process.env['MLOPS_TEST_HOST_ONLY'] = 'leaked';
    try {
      // act: both at once, from the same bundle
      const [en, fr] = await Promise.all([
        engine.invoke('hello-en', { n: 1 }),
        engine.invoke('hello-fr', { n: 2 }),
      ]);
      // assess
      expect(en.functionError).toBeUndefined();
      expect(en.payload).toMatchObject({
        greeting: 'hello',
        n: 1,
        hostOnly: null,
        endpoint: 'http://127.0.0.1:1',
      });
      expect(fr.payload).toMatchObject({ greeting: 'bonjour', n: 2 });
      const p = en.payload as { reserved: Record<string, string>; context: Record<string, unknown> };
      expect(p.reserved).toMatchObject({
        name: 'hello-en',
        region: 'eu-west-1',
        memory: '256',
        handler: 'index.handler',
        key: 'local',
      });
      expect(p.reserved['taskRoot']).toBe(join(root, 'env'));
      expect(p.context).toMatchObject({
        awsRequestId: en.requestId,
        functionName: 'hello-en',
        invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:hello-en',
        memoryLimitInMB: '256',
        logGroupName: '/aws/lambda/hello-en',
      });
      expect(p.context['remaining']).toBeGreaterThan(4000);
      expect(p.context['remaining']).toBeLessThanOrEqual(5000);
    } finally {
      delete process.env['MLOPS_TEST_HOST_ONLY'];
    }
  });

  it('reports init duration on a cold start only, and reuses the warm worker', async () => {
    const cold = await engine.invoke('esm', { x: 1 });
    const warm = await engine.invoke('esm', { x: 21 });
    expect(cold.initDurationMs).toBeGreaterThan(0);
    expect(warm.initDurationMs).toBeUndefined();
    expect(warm.payload).toEqual({ doubled: 42, when: '1970-01-01T00:00:00.000Z' }); // JSON round trip
    expect(engine.workerCount('esm')).toBe(1);
    expect(warm.logs.at(-1)).toMatch(/^REPORT RequestId: \S+\tDuration: [\d.]+ ms/);
  });

  it('supports callback-style handlers and ARNs as names', async () => {
    const result = await engine.invoke(engine.arnOf('callback'), { a: 1 });
    expect(result.payload).toEqual({ echoed: { a: 1 } });
  });

  it("returns handler errors in Lambda's shape", async () => {
    const result = await engine.invoke('throws', {});
    expect(result.functionError).toBe('Unhandled');
    const error = result.payload as LambdaErrorPayload;
    expect(error).toMatchObject({ errorType: 'ModelNotFound', errorMessage: 'no model wine-v9' });
    expect(error.trace?.[0]).toBe('ModelNotFound: no model wine-v9');
  });

  it('times out after the function Timeout and starts a fresh worker next time', async () => {
    const started = Date.now();
    const result = await engine.invoke('slow', { ms: 5000 });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result).toMatchObject({ functionError: 'Unhandled', timedOut: true });
    expect((result.payload as LambdaErrorPayload).errorMessage).toMatch(
      /Task timed out after 1\.00 seconds$/,
    );
    expect(result.logs.some((l) => l.endsWith('Task timed out after 1.00 seconds'))).toBe(true);
    expect(engine.workerCount('slow')).toBe(0);

    const next = await engine.invoke('slow', { ms: 1 });
    expect(next.payload).toBe('done');
    expect(next.initDurationMs).toBeGreaterThan(0);
  });

  it('reports module-init failures as Lambda does, and retries init on the next invoke', async () => {
    const missing = await engine.invoke('missing-module', {});
    expect(missing.payload).toMatchObject({
      errorType: 'Runtime.ImportModuleError',
      errorMessage: expect.stringMatching(/Cannot find module 'nope'/),
    });
    const notExported = await engine.invoke('missing-export', {});
    expect(notExported.payload).toMatchObject({
      errorType: 'Runtime.HandlerNotFound',
      errorMessage: 'index.predict is undefined or not exported',
    });
    const initThrows = await engine.invoke('init-throws', {});
    expect(initThrows.payload).toMatchObject({ errorType: 'Error', errorMessage: 'TABLE_NAME is not set' });
    expect(engine.workerCount('init-throws')).toBe(0);
  });

  it('runs concurrent invocations on a second worker, up to the cap, then queues', async () => {
    // prepare: the default cap is 2
    const started = Date.now();
    // act
    const results = await Promise.all([300, 300, 300].map((ms) => engine.invoke('slow', { ms })));
    // assess: two ran together, the third waited for one of them
    const elapsed = Date.now() - started;
    expect(results.map((r) => r.payload)).toEqual(['done', 'done', 'done']);
    expect(engine.workerCount('slow')).toBe(2);
    expect(elapsed).toBeGreaterThanOrEqual(600);
    expect(elapsed).toBeLessThan(1500);
  });

  it('prefixes and captures logs, with the request id on console lines', async () => {
    const result = await engine.invoke('hello-en', { n: 7 });
    const line = result.logs.find((l) => l.includes('\tINFO\t'));
    expect(line).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\t${result.requestId}\\tINFO\\tgot 7$`));
    expect(logged).toContainEqual(['hello-en', line]);
  });

  it('prewarms a worker that the next invoke finds loaded: no init duration, no second worker', async () => {
    engine.register({ name: 'prewarmed', codeDir: esmDir, handler: 'index.handler' });
    const loading = engine.prewarm('prewarmed');
    expect(loading).toBeInstanceOf(Promise);
    expect(engine.prewarm(engine.arnOf('prewarmed'))).toBeUndefined(); // it has a worker now
    expect(engine.workerCount('prewarmed')).toBe(1);
    await loading;
    const first = await engine.invoke('prewarmed', { x: 4 });
    expect(first.payload).toEqual({ doubled: 8, when: '1970-01-01T00:00:00.000Z' });
    expect(first.initDurationMs).toBeUndefined();
    expect(first.logs.at(-1)).not.toMatch(/Init Duration/);
    expect(engine.workerCount('prewarmed')).toBe(1);
    expect(engine.prewarm('nope')).toBeUndefined();
  });

  it('an invoke that finds its prewarmed worker still loading waits for it and reports the init', async () => {
    engine.register({ name: 'prewarming', codeDir: esmDir, handler: 'index.handler' });
    void engine.prewarm('prewarming');
    const first = await engine.invoke('prewarming', { x: 1 });
    expect(first.payload).toMatchObject({ doubled: 2 });
    expect(first.initDurationMs).toBeGreaterThan(0);
    expect(first.logs.at(-1)).toMatch(/\tInit Duration: [\d.]+ ms$/);
    expect(engine.workerCount('prewarming')).toBe(1);
  });

  it("reports a prewarmed worker's init failure on the next invoke, then drops the worker", async () => {
    await engine.prewarm('init-throws');
    const thrown = await engine.invoke('init-throws', {});
    expect(thrown).toMatchObject({ functionError: 'Unhandled', payload: { errorMessage: 'TABLE_NAME is not set' } });
    expect(engine.workerCount('init-throws')).toBe(0);

    // A worker that exits while it loads: the exit is the invoke's error, and the place is freed.
    await engine.prewarm('exits-at-init');
    expect(engine.workerCount('exits-at-init')).toBe(1);
    const exited = await engine.invoke('exits-at-init', {});
    expect(exited.payload).toMatchObject({
      errorType: 'Runtime.ExitError',
      errorMessage: 'Runtime exited with error: exit status 7',
    });
    expect(engine.workerCount('exits-at-init')).toBe(0);
    const again = await engine.invoke('exits-at-init', {});
    expect(again.payload).toMatchObject({ errorType: 'Runtime.ExitError' });
    expect(engine.workerCount('exits-at-init')).toBe(0);
  });

  it('drops a worker that exits while idle, so that it does not hold one of the function’s places', async () => {
    // Each invocation answers, then its worker exits; with the cap of 2, two dead workers kept
    // would leave the third invocation waiting for ever.
    for (let i = 0; i < 3; i++) {
      const r = await engine.invoke('exits-after', {});
      expect(r.payload).toBe('answered');
      await new Promise((resolve) => setTimeout(resolve, 300)); // the worker exits meanwhile
    }
    expect(engine.workerCount('exits-after')).toBeLessThanOrEqual(1);
  });

  it('fails if the function is unknown', async () => {
    await expect(engine.invoke('nope', {})).rejects.toThrow(
      /Function not found: arn:aws:lambda:eu-west-1:123456789012:function:nope/,
    );
  });
});

describe('functionSpecFromResource', () => {
  it('reads Handler, Timeout, MemorySize and resolved environment variables', () => {
    const spec = functionSpecFromResource(
      'Predict',
      {
        Type: 'AWS::Lambda::Function',
        Properties: {
          Handler: 'index.handler',
          Runtime: 'nodejs20.x',
          Timeout: 30,
          MemorySize: 512,
          Environment: { Variables: { TABLE: { Ref: 'Registry' }, NODE_OPTIONS: '--enable-source-maps' } },
        },
      },
      (v) => JSON.parse(JSON.stringify(v).replace('{"Ref":"Registry"}', '"local-registry"')),
      { codeDir: '/assets/abc', physicalName: 'local-predict' },
    );
    expect(spec).toEqual({
      name: 'local-predict',
      codeDir: '/assets/abc',
      handler: 'index.handler',
      environment: { TABLE: 'local-registry', NODE_OPTIONS: '--enable-source-maps' },
      timeoutSeconds: 30,
      memorySizeMb: 512,
      runtime: 'nodejs20.x',
    });
  });
});
