import { defineConfig } from 'vitest/config';

/**
 * The stack tests: in-process CDK synthesis and nothing else (no servers, no mocks, no environment
 * changes). They share one module graph per worker (`isolate: false`), so aws-cdk-lib loads once,
 * a `synthOnce` helper (test/stack-synth.ts) synthesizes its environments once for every file that
 * reads it, and CDK's asset cache bundles each handler once instead of once per file.
 */
const STACK_TESTS = [
  'test/infra/{api,api-access,artifacts,config,constructs,data-lake,grants,iam,nag,operations,operations-coverage,pipeline-constructs,platform-facts,preflight,state-machines,synthesis-caches}.test.ts',
  'test/pipelines/{nag,stacks}.test.ts',
  'test/registry-stack/*.test.ts',
  'test/release-stack/*.test.ts',
  'test/feature-store-stack/{plan,stack}.test.ts',
  'test/serving-stack/{autoscaling,constructs,hardening,kubernetes,manifests,stack}.test.ts',
  'test/delivery/{pipeline,promotion}.test.ts',
  'test/drift/stack.test.ts',
  'test/quality/stack.test.ts',
];

export default defineConfig({
  test: {
    // CDK synthesis and the local engines are CPU-bound; two workers match the two-core machines.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    setupFiles: ['test/setup.ts'],
    projects: [
      { extends: true, test: { name: 'stacks', include: STACK_TESTS, isolate: false } },
      // Everything else starts engines, servers and child processes, or mocks: a process per file.
      {
        extends: true,
        test: { name: 'platform', include: ['test/**/*.test.ts'], exclude: STACK_TESTS, globalSetup: ['test/global-setup.ts'] },
      },
    ],
  },
});
