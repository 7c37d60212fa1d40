import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * The run's temporary directory: the workers' TMPDIR, so everything they and the processes they start
 * put in the temporary directory (CDK's `cdk.out*` assemblies of apps synthesized without an outdir,
 * state dirs, model dirs, chromium's profiles) lands under it, and test/temp-root.ts removes it when
 * the run ends. Before, every run left ~250 `cdk.out*` directories (1.6 GB) and ~70 others in /tmp.
 * Named by the vitest process's pid, so a second evaluation of this file in the same run gives the
 * same directory.
 */
const RUN_TMPDIR = join(tmpdir(), `mlops-vitest-${process.pid}`);

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

/**
 * Platform-side tests that run in process and leave nothing behind: unit tests, and in-process
 * engines (local S3, DuckDB, dynalite, the Step Functions runner, model servers) each file starts
 * and stops itself. No module mocks, no environment or global left changed (a file that sets a
 * variable or a spy restores it), no state another file reads, no `inject` from the global setup.
 * They share one module graph per worker (`isolate: false`) instead of importing the AWS SDK, DuckDB
 * and the kit once per file; the files pass in any order (`--sequence.shuffle.files`; the tests
 * inside a file keep their order: some read what an earlier one wrote). Files that mock modules,
 * stub the environment for a module they re-import, or start `mlops` platforms and CLIs stay in
 * `platform`, a process per file. So does test/trainer/fit-kernels.test.ts: its SIMD assertions
 * depend on the process's WebAssembly kernel memories and fit threads. The fallback that failed them
 * after other trainer files in one worker (a kernel memory known by a buffer object that another
 * memory's growth replaced) is fixed and tested in that file (many fits in one process), but
 * moving it saved nothing measurable, so it keeps its own process.
 */
const IN_PROCESS_TESTS = [
  'test/adapters/{athena-one-row,canary-alarms}.test.ts',
  'test/console/{features-logic,models-logic,runs-logic,units}.test.ts',
  'test/datasets/wine-lake.test.ts',
  'test/drift/{drift,plan,scipy-parity,window-query}.test.ts',
  'test/features/{conformance,definitions,materialize,online-store,registry-rest,retrieval,serving,values}.test.ts',
  'test/images/dockerfiles.test.ts',
  'test/local/apigw/apigw.test.ts',
  'test/local/assembly/{assembly,facts,intrinsics}.test.ts',
  'test/local/athena/{athena,policy,translate}.test.ts',
  'test/local/compat/control-plane.test.ts',
  'test/local/events/{event-pattern,input-transformer}.test.ts',
  'test/local/lambda/lambda.test.ts',
  'test/local/s3/{server,store,upload-part-copy,uri}.test.ts',
  'test/local/sagemaker/{archive,sfn,trainer}.test.ts',
  'test/local/sfn/{distributed-map,lookahead,pipeline,runner}.test.ts',
  'test/local/up/{log-file,ports,request-log,serving-routes}.test.ts',
  'test/pipelines/{batch,evaluate,feature-service,features-sql,register,register-rollback,split,training-plan,unload,validate-sql,write-once}.test.ts',
  'test/quality/{core,emf}.test.ts',
  'test/registry/{core,search}.test.ts',
  'test/serving-stack/{canary-alarms,metrics-agent,supply-chain}.test.ts',
  'test/serving/{bad-input,body-read,codec,content-length,fast-path,load,load-model,metrics,oip,request-id,request-log,scratch,seldon,shutdown,uuid}.test.ts',
  'test/shared/{wasm,worker-threads}.test.ts',
  'test/suite/tmpdir.test.ts',
  'test/trainer/{cli,columnar,container,contract,csv,elasticnet,fast-number,gram,gram-csv,gram-job,main,metrics,predict}.test.ts',
];

export default defineConfig({
  test: {
    // CDK synthesis and the local engines are CPU-bound; two workers match the two-core machines.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    setupFiles: ['test/setup.ts'],
    env: { TMPDIR: RUN_TMPDIR },
    projects: [
      { extends: true, test: { name: 'stacks', include: STACK_TESTS, isolate: false, globalSetup: ['test/temp-root.ts'] } },
      { extends: true, test: { name: 'in-process', include: IN_PROCESS_TESTS, isolate: false, globalSetup: ['test/temp-root.ts'] } },
      // Everything else starts platforms and CLI processes, or mocks: a process per file.
      {
        extends: true,
        test: {
          name: 'platform',
          include: ['test/**/*.test.ts'],
          exclude: [...STACK_TESTS, ...IN_PROCESS_TESTS],
          globalSetup: ['test/temp-root.ts', 'test/global-setup.ts'],
        },
      },
    ],
  },
});
