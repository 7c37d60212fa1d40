/**
 * startWorker: worker isolates optimize on their own thread, so no background TurboFan job can
 * outlive a worker and abort the process (Node 20's teardown order, lib/shared/worker-threads.ts);
 * the main isolate keeps its background compiler. Read from V8's own `--trace-opt` lines in a child.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const MODULE = new URL('../../lib/shared/worker-threads.ts', import.meta.url).href;

/** A child that makes one function hot in a worker, then another on its main thread. */
function traceOpt(start: 'startWorker' | 'new Worker'): string {
  const script = `
    import { Worker } from 'node:worker_threads';
    import { startWorker } from ${JSON.stringify(MODULE)};
    const source = 'function inWorker(a){let s=0;for(let i=0;i<a.length;i++)s+=a[i]*2;return s}' +
      'const a=new Float64Array(1000);for(let k=0;k<20000;k++)inWorker(a);';
    const worker = ${start === 'startWorker' ? 'startWorker' : 'new Worker'}(source, { eval: true });
    worker.on('exit', () => {
      function onMain(a){let s=0;for(let i=0;i<a.length;i++)s+=a[i]*3;return s}
      const a = new Float64Array(1000);
      for (let k = 0; k < 20000; k++) onMain(a);
    });`;
  const child = spawnSync(process.execPath, ['--trace-opt', '--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(child.status, child.stderr).toBe(0);
  return child.stdout;
}

/** The concurrency modes V8 compiled `name` with (TurboFan, OSR or not). */
const modes = (trace: string, name: string): string[] =>
  [...trace.matchAll(new RegExp(`<JSFunction ${name} .*\\(target TURBOFAN\\).*mode: ConcurrencyMode::(k\\w+)`, 'g'))].map(
    (m) => m[1]!,
  );

describe('startWorker', () => {
  it("compiles a worker's hot function on the worker's thread, and the main thread's in the background as before", () => {
    // arrange, act
    const trace = traceOpt('startWorker');
    // assess
    expect(modes(trace, 'inWorker').length).toBeGreaterThan(0);
    expect(new Set(modes(trace, 'inWorker'))).toEqual(new Set(['kSynchronous']));
    expect(new Set(modes(trace, 'onMain'))).toEqual(new Set(['kConcurrent']));
  });

  it('is what changes it: a plain new Worker compiles in the background', () => {
    // arrange, act
    const trace = traceOpt('new Worker');
    // assess
    expect(new Set(modes(trace, 'inWorker'))).toEqual(new Set(['kConcurrent']));
  });
});
