'use strict';
/**
 * The Lambda runtime inside one worker thread (started by engine.ts). Plain CommonJS on purpose:
 * a worker does not inherit the main thread's loader (tsx, vitest), so this file must run as is.
 *
 * Protocol (parentPort): → {type:'ready'} | {type:'init-error', error} once the handler is loaded;
 * ← {type:'invoke', event, context}; → {type:'log', stream, text} while running, then
 * {type:'result', ok, payload} where payload is the JSON text Lambda would return.
 * Everything goes through parentPort so log lines arrive in order with the result.
 */
const { parentPort, workerData } = require('node:worker_threads');
const { format } = require('node:util');
const { pathToFileURL } = require('node:url');
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');

let requestId;
const post = (message) => parentPort.postMessage(message);
const emit = (stream, text) => post({ type: 'log', stream, text });

// Lambda's Node runtime formats console output as `<ISO time>\t<request id>\t<LEVEL>\t<message>`.
for (const [method, level] of [
  ['log', 'INFO'],
  ['info', 'INFO'],
  ['warn', 'WARN'],
  ['error', 'ERROR'],
  ['debug', 'DEBUG'],
  ['trace', 'TRACE'],
]) {
  console[method] = (...args) =>
    emit(
      level === 'ERROR' || level === 'WARN' ? 'stderr' : 'stdout',
      `${new Date().toISOString()}\t${requestId}\t${level}\t${format(...args)}`,
    );
}
// Loggers that write to the streams directly (Powertools builds its own Console on process.stdout).
const partial = { stdout: '', stderr: '' };
for (const name of ['stdout', 'stderr']) {
  process[name].write = (chunk, encoding, callback) => {
    partial[name] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    const lines = partial[name].split('\n');
    partial[name] = lines.pop();
    for (const line of lines) emit(name, line);
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') done();
    return true;
  };
}
const flush = () => {
  for (const name of ['stdout', 'stderr']) {
    if (partial[name] !== '') emit(name, partial[name]);
    partial[name] = '';
  }
};

/** An error with Lambda's own errorType (Runtime.*). */
function runtimeError(errorType, message, cause) {
  const err = new Error(message);
  err.name = errorType;
  if (cause?.stack) err.stack = `${errorType}: ${message}\n${cause.stack}`;
  return err;
}

/** Lambda's error shape: {errorType, errorMessage, trace}. */
function serialize(err) {
  if (err instanceof Error || (err !== null && typeof err === 'object' && 'message' in err)) {
    return {
      errorType: err.name || err.constructor?.name || 'Error',
      errorMessage: String(err.message),
      trace: String(err.stack ?? '').split('\n'),
    };
  }
  return { errorType: typeof err, errorMessage: String(err), trace: [] };
}

async function loadHandler() {
  const spec = workerData.handler;
  if ((process.env.NODE_OPTIONS ?? '').includes('--enable-source-maps')) process.setSourceMapsEnabled(true);
  // Like Lambda's NODE_PATH: bundles built with the AWS SDK external find it here.
  if (workerData.nodePath) {
    process.env.NODE_PATH = [process.env.NODE_PATH, workerData.nodePath].filter(Boolean).join(path.delimiter);
    Module._initPaths();
  }
  const dot = spec.indexOf('.', spec.lastIndexOf('/') + 1);
  if (dot <= 0)
    throw runtimeError(
      'Runtime.MalformedHandlerName',
      `Bad handler ${spec}: missing module or function name`,
    );
  const modulePath = spec.slice(0, dot);
  const functionPath = spec.slice(dot + 1);
  const base = path.resolve(workerData.taskRoot, modulePath);
  const file = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!file) {
    throw runtimeError(
      'Runtime.ImportModuleError',
      `Error: Cannot find module '${modulePath}'\nRequire stack:\n- /var/runtime/index.mjs`,
    );
  }
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    if (err instanceof SyntaxError)
      throw runtimeError('Runtime.UserCodeSyntaxError', `${err.name}: ${err.message}`, err);
    if (err?.code === 'MODULE_NOT_FOUND' || err?.code === 'ERR_MODULE_NOT_FOUND') {
      throw runtimeError('Runtime.ImportModuleError', `Error: ${err.message}`, err);
    }
    throw err; // an exception thrown by the module's own init code is reported as itself
  }
  const lookup = (root) => functionPath.split('.').reduce((o, k) => (o == null ? undefined : o[k]), root);
  const handler = lookup(mod) ?? lookup(mod.default);
  if (typeof handler !== 'function') {
    throw runtimeError('Runtime.HandlerNotFound', `${spec} is undefined or not exported`);
  }
  return handler;
}

function invoke(handler, message) {
  const c = message.context;
  requestId = c.awsRequestId;
  let settled = false;
  const finish = (err, result) => {
    if (settled) return;
    settled = true;
    flush();
    if (err !== undefined && err !== null) {
      post({ type: 'result', ok: false, payload: JSON.stringify(serialize(err)) });
      return;
    }
    let json;
    try {
      json = JSON.stringify(result === undefined ? null : result);
    } catch (e) {
      post({ type: 'result', ok: false, payload: JSON.stringify(serialize(e)) });
      return;
    }
    post({ type: 'result', ok: true, payload: json ?? 'null' });
  };
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: c.functionName,
    functionVersion: c.functionVersion,
    invokedFunctionArn: c.invokedFunctionArn,
    memoryLimitInMB: c.memoryLimitInMB,
    awsRequestId: c.awsRequestId,
    logGroupName: c.logGroupName,
    logStreamName: c.logStreamName,
    identity: undefined,
    clientContext: c.clientContext,
    getRemainingTimeInMillis: () => Math.max(c.deadlineMs - Date.now(), 0),
    // The legacy context methods, still used by old handlers.
    done: (err, result) => finish(err, result),
    succeed: (result) => finish(null, result),
    fail: (err) => finish(err ?? new Error('handled')),
  };
  try {
    const returned = handler(message.event, context, (err, result) => finish(err, result));
    if (returned && typeof returned.then === 'function') {
      returned.then(
        (result) => finish(null, result),
        (err) => finish(err ?? new Error('Promise rejected with a falsy value')),
      );
    } else if (handler.length < 3) {
      // A synchronous handler without a callback: Lambda answers null.
      finish(null, null);
    }
  } catch (err) {
    finish(err);
  }
}

loadHandler().then(
  (handler) => {
    parentPort.on('message', (message) => {
      if (message.type === 'invoke') invoke(handler, message);
    });
    post({ type: 'ready' });
  },
  (err) => {
    flush();
    post({ type: 'init-error', error: serialize(err) });
  },
);
