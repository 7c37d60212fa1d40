/**
 * CDK's CloudFormation validator on a worker thread, for {@link CachedCloudFormationValidatePlugin}
 * (validation-cache.ts). This module loads no aws-cdk-lib, so bin/app.ts starts the worker before it
 * loads the CDK.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { IPolicyValidationContext, PolicyViolation } from 'aws-cdk-lib';
import { kitCacheDir } from './bundling';

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
const index = () => JSON.parse(readFileSync(join(dirname(pluginPath), 'rules', 'index.generated.json'), 'utf8')).rules;
const rulesOf = (rules, types) => rules.filter((r) => r.types === null || r.types.some((t) => types.has(t))).map((r) => r.file).sort().join('\\n');
const reply = (message) => { port.postMessage(message); Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); };
port.on('message', (request) => {
  if (failure) return reply({ failure });
  try {
    if (request.stackTemplates === undefined) return reply({ version });
    const types = new Set(request.types);
    const rules = index();
    if (rulesOf(rules, types) === rulesOf(rules, plugin.engineResourceTypes)) plugin.engineResourceTypes = types;
    plugin.initializeEngine(types);
    reply({ version, reports: request.stackTemplates.map((s) => plugin.validate({ stackTemplates: [s] }).violations) });
  } catch (err) {
    reply({ failure: String(err && err.stack || err) });
  }
});
`;

/** How long the main thread waits for the worker's answer before validating on its own. */
const WORKER_TIMEOUT_MS = 10 * 60_000;

interface WorkerReply {
  version?: string;
  reports?: PolicyViolation[][];
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
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { port: port2, flag: this.flag, pluginPath }, transferList: [port2] });
    // Never keeps the process alive; stopped once its reports are in.
    this.worker.unref();
    this.port.unref();
  }

  /** Sends `request` and blocks until the worker answers; undefined when it failed or timed out. */
  ask(request: { stackTemplates?: IPolicyValidationContext['stackTemplates']; types?: string[] }): WorkerReply | undefined {
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

