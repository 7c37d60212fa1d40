/**
 * CDK's CloudFormation validator on a worker thread, for {@link CachedCloudFormationValidatePlugin}
 * (validation-cache.ts). This module loads no aws-cdk-lib, so bin/app.ts starts the worker before it
 * loads the CDK.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { MessageChannel, type MessagePort, receiveMessageOnPort, type Worker } from 'node:worker_threads';
import type { IPolicyValidationContext, PolicyViolation } from 'aws-cdk-lib';
import { startWorker } from '../shared/worker-threads';
import { kitCacheDir } from './bundling';

/**
 * The worker compiles and runs the validator's WebAssembly (9 MB: the Rego engine and its built-in
 * rules) with V8's baseline compiler (Liftoff) only, never tiering hot functions up to TurboFan. A
 * synthesis runs the engine for seconds, too short for the optimizing compiler's work (on V8's
 * background threads) to pay back: validating the 27 templates of the three environments costs
 * ~2.2 s of CPU instead of ~3.4 s; starting the engine (~2.4 s) is the same (bench/synth/validator.ts,
 * 2-core machine, loaded). The tier changes no result: WebAssembly's semantics do not depend on the
 * compiler, and the bench and a test compare the findings.
 * The flag is V8's, for the whole process: the worker only runs in synthesis processes (bin/app.ts
 * and the tests that start it), which run no other WebAssembly.
 */
const LIFTOFF_ONLY = '--liftoff-only';

/**
 * What the worker reserves in the validator's WebAssembly heap as soon as the module is instantiated:
 * one allocation of this size, freed at once. The engine's start then grows its memory once instead
 * of in hundreds of small steps. Each step (`memory.grow`) gives V8 a new ArrayBuffer of the whole
 * memory (~160 MiB), counted as new external memory, and so a full garbage collection ("external
 * memory pressure": ~550 mark-compacts per synthesis); the allocator keeps the freed block and
 * serves the engine from it. Measured on the 27 templates of the three environments, fresh
 * processes, loaded: engine start 0.51–0.55 s of CPU instead of 2.5–2.9 s, validating 1.9–2.0 s
 * instead of 2.2–2.3 s, one mark-compact instead of ~550, the same findings, the same RSS (~258 MB:
 * the reserved pages are never touched). A smaller reservation (64 MiB) is not enough for the
 * engine's ~160 MiB. The glue is wasm-bindgen's (`__wbindgen_malloc`/`__wbindgen_free`); a module
 * without them is left alone.
 */
const WASM_HEAP_RESERVE = 256 * 2 ** 20;

/**
 * CDK's CloudFormation validator on a worker thread, started before the app builds its tree, so the
 * engine's start (~2 s of CPU: the WASM module and its built-in rules) runs on the second core while
 * this one loads aws-cdk-lib, bundles handlers and builds the stages. It is CDK's own plugin class
 * (loaded from aws-cdk-lib's file, not a copy), so a template's report is the one the plugin returns
 * on the main thread; {@link CachedCloudFormationValidatePlugin} hands it the templates its cache
 * misses and waits for the reports synchronously (validation is synchronous in CDK's synthesis).
 *
 * The engine starts with the rules of no resource type. CDK's plugin builds its engine from the rule
 * files its resource types select (aws-cdk-lib's rules index); when the templates' types select the
 * same files (none of the kit's do: the index's only rule is GameLift's), that engine is the one CDK
 * would build for them, and the worker records their types on it instead of starting a second one.
 * Otherwise CDK's own `initializeEngine` rebuilds it for those types, as it does on the main thread.
 */
const WORKER_SOURCE = `
// The engine's WebAssembly on V8's baseline compiler alone (see LIFTOFF_ONLY).
require('node:v8').setFlagsFromString(${JSON.stringify(LIFTOFF_ONLY)});
// Its heap reserved at instantiation (see WASM_HEAP_RESERVE); this thread runs nothing else.
const WasmInstance = WebAssembly.Instance;
WebAssembly.Instance = function Instance(module, imports) {
  const instance = new WasmInstance(module, imports);
  const { __wbindgen_malloc: malloc, __wbindgen_free: free } = instance.exports;
  if (typeof malloc === 'function' && typeof free === 'function') {
    try {
      free(malloc(${WASM_HEAP_RESERVE}, 1), ${WASM_HEAP_RESERVE}, 1);
    } catch {}
  }
  return instance;
};
WebAssembly.Instance.prototype = WasmInstance.prototype;
const { workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { port, flag, pluginPath } = workerData;
let plugin, version, failure;
try {
  const { CloudFormationValidatePlugin } = require(pluginPath);
  plugin = new CloudFormationValidatePlugin();
  version = plugin.version;
  plugin.initializeEngine(new Set());
} catch (err) {
  failure = String(err && err.stack || err);
}
const rules = failure ? [] : JSON.parse(readFileSync(join(dirname(pluginPath), 'rules', 'index.generated.json'), 'utf8')).rules;
const rulesOf = (types) => rules.filter((r) => r.types === null || r.types.some((t) => types.has(t))).map((r) => r.file).sort().join('\\n');
const typesOf = (text) => {
  const types = new Set();
  try {
    for (const r of Object.values(JSON.parse(text).Resources || {})) if (r && typeof r.Type === 'string') types.add(r.Type);
  } catch {}
  return types;
};
/** Lets the engine serve \`types\` when they select the rules it was built with (as CDK's would). */
const widen = (types) => {
  if (rulesOf(types) === rulesOf(plugin.engineResourceTypes)) plugin.engineResourceTypes = new Set([...plugin.engineResourceTypes, ...types]);
};
/** Reports validated ahead, by template path: the template as it was sent and read, the engine, the report. */
const ahead = new Map();
const reply = (message) => { port.postMessage(message); Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); };
port.on('message', (request) => {
  if (request.ahead !== undefined) {
    // No reply: the main thread goes on synthesizing. A template whose types need another engine waits.
    if (failure) return;
    for (const s of request.ahead) {
      try {
        const text = readFileSync(s.templatePath, 'utf8');
        const types = typesOf(text);
        widen(types);
        if (rulesOf(types) !== rulesOf(plugin.engineResourceTypes) || ![...types].every((t) => plugin.engineResourceTypes.has(t))) continue;
        ahead.set(s.templatePath, { sent: JSON.stringify(s), text, engine: plugin.engine, violations: plugin.validate({ stackTemplates: [s] }).violations });
      } catch {}
    }
    return;
  }
  if (failure) return reply({ failure });
  try {
    if (request.stackTemplates === undefined) return reply({ version });
    const types = new Set(request.types);
    widen(types);
    plugin.initializeEngine(types);
    const early = request.stackTemplates.map((s) => {
      const e = ahead.get(s.templatePath);
      return e !== undefined && e.engine === plugin.engine && e.sent === JSON.stringify(s) && e.text === readFileSync(s.templatePath, 'utf8');
    });
    const reports = request.stackTemplates.map((s, i) => early[i] ? ahead.get(s.templatePath).violations : plugin.validate({ stackTemplates: [s] }).violations);
    reply({ version, reports, early });
  } catch (err) {
    reply({ failure: String(err && err.stack || err) });
  }
});
`;

/** How long the main thread waits for the worker's answer before validating on its own. */
const WORKER_TIMEOUT_MS = 10 * 60_000;

/** What the worker needs of a stack's template (structured-clonable), as CDK's validation context gives it. */
export type PlainTemplate = Pick<IPolicyValidationContext['stackTemplates'][number], 'stackConstructPath' | 'templatePath' | 'accountId' | 'region'>;

interface WorkerReply {
  version?: string;
  reports?: PolicyViolation[][];
  /** Per template of the request: whether its report is one validated ahead. */
  early?: boolean[];
  failure?: string;
}

/** The validator on its worker thread: see {@link WORKER_SOURCE}. */
export class ValidationWorker {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag = new Int32Array(new SharedArrayBuffer(4));

  constructor() {
    const pluginPath = join(
      dirname(createRequire(import.meta.url).resolve('aws-cdk-lib/package.json')),
      'core',
      'lib',
      'validation',
      'cloudformation-validate-plugin.js',
    );
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = startWorker(WORKER_SOURCE, { eval: true, workerData: { port: port2, flag: this.flag, pluginPath }, transferList: [port2] });
    // Never keeps the process alive; stopped once its reports are in.
    this.worker.unref();
    this.port.unref();
  }

  /** Sends `request` and blocks until the worker answers; undefined when it failed or timed out. */
  ask(request: { stackTemplates?: readonly PlainTemplate[]; types?: string[] }): WorkerReply | undefined {
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage(request);
    if (Atomics.wait(this.flag, 0, 0, WORKER_TIMEOUT_MS) === 'timed-out') return undefined;
    const reply = receiveMessageOnPort(this.port)?.message as WorkerReply | undefined;
    if (reply?.failure !== undefined) {
      process.emitWarning(`CloudFormation validation worker failed; validating on the main thread: ${reply.failure}`);
      return undefined;
    }
    return reply;
  }

  /**
   * Has the worker validate `stackTemplates` now, as they are written (a stage synthesized), without
   * waiting: {@link ask} then answers them from what it validated, where the template, its stack and
   * the engine are still the same.
   */
  validateAhead(stackTemplates: readonly PlainTemplate[]): void {
    if (stackTemplates.length > 0) this.port.postMessage({ ahead: stackTemplates });
  }

  stop(): void {
    void this.worker.terminate();
  }
}

/** The worker {@link startValidationWorker} started, until a plugin takes it. */
let startedWorker: ValidationWorker | undefined;
export const takeStartedWorker = (): ValidationWorker | undefined => {
  const worker = startedWorker;
  startedWorker = undefined;
  return worker;
};

/**
 * Starts CDK's CloudFormation validator on a worker thread for the next
 * {@link CachedCloudFormationValidatePlugin} of this process (bin/app.ts, before it loads the app),
 * unless validation is off (`CDK_VALIDATION=false`). Whether it pays is the caller's guess: a
 * synthesis whose templates all come from the cache never asks it and stops it, having spent the
 * engine's start on the other core.
 */
export function startValidationWorker(): void {
  if (process.env.CDK_VALIDATION === 'false' || startedWorker) return;
  startedWorker = new ValidationWorker();
}

/** True when the validation cache at `cacheDir` holds no findings (a first synthesis). */
export function validationCacheIsEmpty(cacheDir: string = join(kitCacheDir(), 'validation')): boolean {
  return !existsSync(cacheDir) || !readdirSync(cacheDir).some((f) => f.endsWith('.json') && f !== 'engine.json');
}

