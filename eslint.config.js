// The project's one linter: ESLint's and typescript-eslint's recommended rules (syntax-level, so
// it stays fast; `tsc --noEmit` in `npm test` does the type checking).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.mlops/', 'coverage/', '**/*.tmp.*'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', fetch: 'readonly', crypto: 'readonly', performance: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', structuredClone: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', queueMicrotask: 'readonly', __dirname: 'readonly', require: 'readonly', module: 'writable', exports: 'writable' } },
    rules: {
      // Late-bound references read by closures created before the value exists (lib/local/platform.ts).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Getters on the Step Functions context object must reach the run that owns them.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['run'] }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  // The import directions of ARCHITECTURE.md, one block per layer (the blocks' file sets do not
  // overlap, so no block's rule options replace another's).
  ...layers(),
  {
    // Tests and benchmarks read synthesized templates and protocol bodies as loose JSON.
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // A worker thread that ends while V8 compiles for it in the background can abort the process
    // on Node 20; startWorker starts them without that (lib/shared/worker-threads.ts).
    files: ['bin/**', 'lib/**', 'lambdas/**', 'stacks/**'],
    ignores: ['lib/shared/worker-threads.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Worker']", message: 'Start worker threads with startWorker (lib/shared/worker-threads.ts).' },
      ],
    },
  },
);

/**
 * One `no-restricted-imports` block per layer of ARCHITECTURE.md. Each layer names what it must
 * not import: a library (the CDK, the AWS SDK, Lambda's types) or a sibling layer, matched on the
 * import string (`../constructs/x`, `../../stacks/y`, `aws-cdk-lib/aws-s3`).
 */
function layers() {
  const CDK = { regex: '^(aws-cdk-lib(/.*)?|constructs)$', message: 'CDK code belongs in lib/constructs or stacks/.' };
  const SDK = { regex: '^@(aws-sdk|smithy|aws-crypto)/', message: 'AWS SDK calls belong in an adapter under lib/adapters/<service>/.' };
  const LAMBDA_TYPES = { regex: '^aws-lambda$', message: "Lambda's event types belong in the handler under lambdas/." };
  const layer = (...names) => ({
    regex: `^\\.\\.?/(.*/)?(${names.join('|')})(/|$)`, // relative imports only: `constructs` the package is CDK's
    message: `This layer must not import from ${names.map((n) => `${n}/`).join(', ')} (see ARCHITECTURE.md).`,
  });
  const block = (files, ...patterns) => ({ files, ignores: COMPOSITION_ROOTS.filter((f) => !files.includes(f)), rules: { 'no-restricted-imports': ['error', { patterns }] } });
  // Entry points that build adapters and hand them to a core, as handlers do. The model server's
  // container entry lives beside its core because the image's build context is `lib/`.
  const COMPOSITION_ROOTS = ['lib/serving/entry.ts'];
  return [
    // Cores: the rules of the platform, with ports for storage, objects and events.
    block(
      ['lib/{registry,features,trainer,serving,pipelines,model,drift,quality,release}/**/*.ts'],
      CDK,
      SDK,
      LAMBDA_TYPES,
      layer('constructs', 'adapters', 'local', 'cli', 'stacks', 'lambdas'),
    ),
    // Adapters: the ports implemented with the AWS SDK; no infrastructure, no engines.
    block(['lib/adapters/**/*.ts'], CDK, LAMBDA_TYPES, layer('constructs', 'local', 'cli', 'stacks', 'lambdas')),
    // Constructs: CDK only; they name handlers by path (lambdaEntry), never import them.
    block(['lib/constructs/**/*.ts'], SDK, LAMBDA_TYPES, layer('adapters', 'local', 'cli', 'stacks', 'lambdas')),
    // Stacks compose constructs.
    block(['stacks/**/*.ts'], SDK, LAMBDA_TYPES, layer('adapters', 'local', 'cli', 'lambdas')),
    // Handlers (and the other composition roots): parse, build adapters, call a core.
    block(['lambdas/**/*.ts', ...COMPOSITION_ROOTS], CDK, layer('constructs', 'local', 'cli', 'stacks')),
    // The local wing runs what the cloud assembly describes; it never builds the stacks itself.
    block(['lib/local/**/*.ts'], CDK, layer('stacks', 'lambdas', 'cli')),
    block(['lib/cli/**/*.ts'], CDK, layer('stacks', 'lambdas')),
    // The console runs in a browser and reaches the platform only through its public APIs (HTTP):
    // no module outside lib/console, no Node built-in, no SDK (it speaks the AWS JSON protocol with
    // fetch). A relative import leaves lib/console when it climbs more levels than the file is
    // deep, hence one block per depth. The one exception is lib/shared/operations.ts, the
    // platform's names (tags, metrics) as plain data: the console reads the same contract.
    ...[1, 2, 3, 4].map((depth) =>
      block(
        [`lib/console/${'*/'.repeat(depth - 1)}*.{ts,tsx}`],
        CDK,
        SDK,
        LAMBDA_TYPES,
        { regex: '^node:', message: 'The console runs in a browser: no Node built-ins.' },
        {
          regex: `^(\\.\\./){${depth}}(?!shared/operations$)`,
          message: 'The console imports only lib/console and packages: it reaches the platform through its public APIs (see ARCHITECTURE.md).',
        },
      ),
    ),
  ];
}
