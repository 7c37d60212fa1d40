/**
 * Worker threads that cannot abort the process as they end.
 *
 * Node 20 unregisters a worker's isolate from its platform before it disposes of the isolate
 * (`~WorkerThreadData`; V8's Node fork changed the order in v8/node#208). A background job still
 * running for that isolate in the gap, and asking for the isolate's task runner, aborts the whole
 * process: `Assertion failed: (data.first) != nullptr` in `NodePlatform::ForIsolate`. The one seen
 * here (a CI run of the suite, a vitest fork gone mid-file) was a concurrent TurboFan job
 * allocating a heap number and scheduling an incremental-marking task. It can happen wherever a
 * worker ends shortly after running hot code: a Lambda worker stopped at a timeout (while it runs)
 * or with its platform, the trainer's fit and CSV threads, CDK's validation worker.
 *
 * {@link startWorker} turns off concurrent recompilation before the first worker starts. V8 reads
 * the flag when it creates an isolate, so every worker isolate created after it optimizes on its
 * own thread (no background compile job to outlive it), while the process's main isolate, created
 * before, keeps its background compiler. test/shared/worker-threads.test.ts checks both with
 * `--trace-opt`.
 */
import { setFlagsFromString } from 'node:v8';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * `new Worker(filename, options)`, after turning off concurrent recompilation for new isolates
 * (setting the flag again is harmless, and costs less than the worker's start).
 */
export function startWorker(filename: string | URL, options?: WorkerOptions): Worker {
  setFlagsFromString('--no-concurrent-recompilation');
  return new Worker(filename, options);
}
