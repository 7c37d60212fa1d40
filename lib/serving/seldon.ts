/**
 * Seldon Core v1 ("Seldon protocol") codec for the kit's linear models: request parsing,
 * response and error bodies, as pure functions of parsed JSON. The HTTP server owns the transport.
 *
 * What the payload variants mean for a linear model (the Python wrapper hands them to the user
 * model untouched; these are the kit's model's answers):
 *
 * | request                                   | response (200)                                       |
 * |-------------------------------------------|------------------------------------------------------|
 * | `data.ndarray` `[[f1…fn], …]`             | `data: {names: [], ndarray: [y1, …]}`                |
 * | `data.tensor` `{shape:[N,n], values}`     | `data: {names: [], tensor: {shape:[N], values}}`     |
 * | `jsonData` `{feature: value, …}`          | `jsonData: {<target>: y}`                            |
 * | `jsonData` `[{feature: value, …}, …]`     | `jsonData: {<target>: [y1, …]}`                      |
 * | `strData`, `binData`, `tftensor`, other   | 400 `MICROSERVICE_BAD_DATA`                          |
 *
 * `names` on a response is `[]` because the prediction is 1-D (the wrapper's `client_class_names`);
 * `names` on a request, when present, name the columns and may come in any order. An empty batch
 * (`ndarray: []`, `tensor.shape [0, n]`) answers an empty result, as the wrapper does.
 *
 * Error bodies are the wrapper's `{"status":{"status":…,"info":…,"code":-1,"reason":…}}` with the
 * flag written as the string `"FAILURE"` (the proto's JSON form, which the executor emits and the
 * vendored OpenAPI declares; the wrapper writes `1`, and the notes ask clients to accept both).
 */
import { describeValue } from './describe';
import { jsonNumbers, type ServedModel } from './model';
import { type Float64Scratch, float64 } from './scratch';

/** A `reason` the Python wrapper uses. */
export type SeldonReason =
  | 'MICROSERVICE_BAD_DATA'
  | 'MICROSERVICE_BAD_METRIC'
  | 'MICROSERVICE_INTERNAL_ERROR'
  | 'MICROSERVICE_BAD_METADATA';

/** A request the client got wrong, with the HTTP status and `reason` the wrapper answers. */
export class SeldonError extends Error {
  override readonly name = 'SeldonError';
  constructor(
    message: string,
    readonly status = 400,
    readonly reason: SeldonReason = 'MICROSERVICE_BAD_DATA',
  ) {
    super(message);
  }
}

/** Which payload form a request used; the response answers in the same form. */
export type SeldonKind = 'ndarray' | 'tensor' | 'jsonRecord' | 'jsonRecords';

/** A decoded prediction request. */
export interface SeldonRequest {
  readonly kind: SeldonKind;
  readonly rows: number;
  /** `rows × features` values, row-major, in the model's feature order. */
  readonly x: Float64Array;
  /** The response `meta` already serialised (`{}` when the request carried none). */
  readonly metaJson: string;
  /** `meta.puid` when the client sent one: the request id for logs. */
  readonly puid: string | undefined;
}

const METRIC_TYPES = new Set(['COUNTER', 'GAUGE', 'TIMER']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Builds the response `meta` the wrapper returns: the request's `puid`, `tags`, `requestPath`
 * (merged with this node's entry) and `metrics` passed through.
 *
 * @example
 * responseMeta({ puid: 'abc' }, undefined); // { json: '{"puid":"abc"}', puid: 'abc' }
 */
export function responseMeta(meta: unknown, requestPath: Readonly<Record<string, string>> | undefined) {
  if (meta === undefined && requestPath === undefined) return { json: '{}', puid: undefined };
  if (meta !== undefined && !isObject(meta)) throw new SeldonError('meta must be an object');
  const m = (meta ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  let puid: string | undefined;
  if (m.puid !== undefined) {
    if (typeof m.puid !== 'string') throw new SeldonError('meta.puid must be a string');
    if (m.puid !== '') out.puid = puid = m.puid;
  }
  if (m.tags !== undefined) {
    if (!isObject(m.tags)) throw new SeldonError('meta.tags must be an object');
    if (Object.keys(m.tags).length > 0) out.tags = m.tags;
  }
  if (m.requestPath !== undefined && !isObject(m.requestPath)) {
    throw new SeldonError('meta.requestPath must be an object of strings');
  }
  const path = { ...(m.requestPath as Record<string, unknown> | undefined), ...requestPath };
  if (Object.keys(path).length > 0) out.requestPath = path;
  if (m.metrics !== undefined) {
    if (!Array.isArray(m.metrics))
      throw new SeldonError('meta.metrics must be an array', 400, 'MICROSERVICE_BAD_METRIC');
    for (const metric of m.metrics) {
      if (
        !isObject(metric) ||
        typeof metric.key !== 'string' ||
        (metric.type !== undefined && !METRIC_TYPES.has(metric.type as string)) ||
        typeof metric.value !== 'number'
      ) {
        throw new SeldonError(
          `meta.metrics entries must be {"key": string, "type": COUNTER|GAUGE|TIMER, "value": number}, but ${describeValue(metric)} was provided`,
          400,
          'MICROSERVICE_BAD_METRIC',
        );
      }
    }
    if (m.metrics.length > 0) out.metrics = m.metrics;
  }
  return { json: JSON.stringify(out), puid };
}

/** Maps request column names onto model columns; `undefined` when they are the model's own order. */
function columnOrder(names: unknown, model: ServedModel): Int32Array | undefined {
  if (names === undefined) return undefined;
  if (!Array.isArray(names)) throw new SeldonError('data.names must be an array of feature names');
  if (names.length === 0) return undefined;
  const f = model.features.length;
  if (names.length !== f) {
    throw new SeldonError(
      `data.names must name the model's ${f} features, but ${names.length} names were provided`,
    );
  }
  const order = new Int32Array(f);
  const seen = new Uint8Array(f);
  let identity = true;
  for (let i = 0; i < f; i++) {
    const col = typeof names[i] === 'string' ? model.featureIndex.get(names[i]) : undefined;
    if (col === undefined) {
      throw new SeldonError(
        `data.names has unknown feature ${describeValue(names[i])}; the model's features are ${JSON.stringify(model.features)}`,
      );
    }
    if (seen[col]) throw new SeldonError(`data.names names feature ${JSON.stringify(names[i])} twice`);
    seen[col] = 1;
    order[i] = col;
    if (col !== i) identity = false;
  }
  return identity ? undefined : order;
}

function badNumber(where: string, v: unknown): SeldonError {
  return new SeldonError(`${where} must be a finite number, but ${describeValue(v)} was provided`);
}

function decodeNdarray(
  ndarray: unknown,
  order: Int32Array | undefined,
  f: number,
  scratch: Float64Scratch | undefined,
): Float64Array {
  if (!Array.isArray(ndarray)) throw new SeldonError('data.ndarray must be an array of rows');
  const rows = ndarray.length;
  const x = float64(rows * f, scratch);
  for (let r = 0, o = 0; r < rows; r++, o += f) {
    const row = ndarray[r];
    if (!Array.isArray(row)) {
      throw new SeldonError(
        `data.ndarray must be an array of rows of ${f} numbers, but row ${r} is not an array`,
      );
    }
    if (row.length !== f) {
      throw new SeldonError(`data.ndarray rows must have ${f} features, but row ${r} has ${row.length}`);
    }
    for (let j = 0; j < f; j++) {
      const v = row[j];
      // typeof + (v - v === 0) rejects strings, booleans, null and the Infinity that JSON.parse
      // makes of literals like 1e999, in one branch.
      if (typeof v !== 'number' || v - v !== 0) throw badNumber(`data.ndarray[${r}][${j}]`, v);
      x[o + (order === undefined ? j : order[j]!)] = v;
    }
  }
  return x;
}

function decodeTensor(
  tensor: unknown,
  order: Int32Array | undefined,
  f: number,
  scratch: Float64Scratch | undefined,
): { x: Float64Array; rows: number } {
  if (!isObject(tensor))
    throw new SeldonError('data.tensor must be an object {"shape": [...], "values": [...]}');
  const { shape, values } = tensor;
  if (
    !Array.isArray(shape) ||
    shape.length !== 2 ||
    !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)
  ) {
    throw new SeldonError(`data.tensor.shape must be [rows, ${f}], but ${describeValue(shape)} was provided`);
  }
  if (shape[1] !== f) {
    throw new SeldonError(`data.tensor.shape must be [rows, ${f}], but ${describeValue(shape)} was provided`);
  }
  if (!Array.isArray(values)) throw new SeldonError('data.tensor.values must be an array of numbers');
  const rows = shape[0] as number;
  if (values.length !== rows * f) {
    throw new SeldonError(
      `data.tensor.values must hold ${rows * f} values for shape ${JSON.stringify(shape)}, but ${values.length} were provided`,
    );
  }
  const x = float64(values.length, scratch);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || v - v !== 0) throw badNumber(`data.tensor.values[${i}]`, v);
    const j = i % f;
    x[i - j + (order === undefined ? j : order[j]!)] = v;
  }
  return { x, rows };
}

function decodeRecord(rec: unknown, model: ServedModel, x: Float64Array, o: number, where: string): void {
  if (!isObject(rec)) throw new SeldonError(`${where} must be an object of feature values`);
  let n = 0;
  for (const key in rec) {
    const col = model.featureIndex.get(key);
    if (col === undefined) {
      throw new SeldonError(
        `${where} has unknown feature ${describeValue(key)}; the model's features are ${JSON.stringify(model.features)}`,
      );
    }
    const v = rec[key];
    if (typeof v !== 'number' || v - v !== 0) throw badNumber(`${where}[${JSON.stringify(key)}]`, v);
    x[o + col] = v;
    n++;
  }
  if (n !== model.features.length) {
    const missing = model.features.filter((name) => !(name in rec));
    throw new SeldonError(`${where} is missing features ${JSON.stringify(missing)}`);
  }
}

function decodeJsonData(
  json: unknown,
  model: ServedModel,
  scratch: Float64Scratch | undefined,
): { x: Float64Array; rows: number; kind: SeldonKind } {
  const f = model.features.length;
  if (Array.isArray(json)) {
    const x = float64(json.length * f, scratch);
    for (let r = 0; r < json.length; r++) decodeRecord(json[r], model, x, r * f, `jsonData[${r}]`);
    return { x, rows: json.length, kind: 'jsonRecords' };
  }
  const x = float64(f, scratch);
  decodeRecord(json, model, x, 0, 'jsonData');
  return { x, rows: 1, kind: 'jsonRecord' };
}

/**
 * Decodes a Seldon prediction request for `model`; throws {@link SeldonError} for anything a client
 * got wrong. With `scratch`, `x` is a view of it (valid until its next use).
 *
 * @example
 * const req = decodeSeldonRequest({ data: { ndarray: [[1, 2]] } }, served);
 * req.rows; // 1
 */
export function decodeSeldonRequest(
  body: unknown,
  model: ServedModel,
  requestPath?: Readonly<Record<string, string>>,
  scratch?: Float64Scratch,
): SeldonRequest {
  if (!isObject(body)) {
    throw new SeldonError(
      `Invalid request data type: expected a JSON object, but got ${Array.isArray(body) ? 'an array' : typeof body}`,
    );
  }
  const f = model.features.length;
  let x: Float64Array;
  let rows: number;
  let kind: SeldonKind;
  // The wrapper's precedence when several payloads are present: data, binData, strData, jsonData.
  if (body.data !== undefined) {
    const data = body.data;
    if (!isObject(data)) throw new SeldonError('data must be an object holding ndarray or tensor');
    const order = columnOrder(data.names, model);
    if (data.ndarray !== undefined) {
      x = decodeNdarray(data.ndarray, order, f, scratch);
      rows = x.length / f;
      kind = 'ndarray';
    } else if (data.tensor !== undefined) {
      ({ x, rows } = decodeTensor(data.tensor, order, f, scratch));
      kind = 'tensor';
    } else if (data.tftensor !== undefined) {
      throw new SeldonError('data.tftensor is not supported: send data.ndarray or data.tensor');
    } else {
      throw new SeldonError('data must hold ndarray or tensor');
    }
  } else if (body.binData !== undefined || body.strData !== undefined || body.customData !== undefined) {
    const key =
      body.binData !== undefined ? 'binData' : body.strData !== undefined ? 'strData' : 'customData';
    throw new SeldonError(
      `${key} is not supported by a linear model: send data.ndarray, data.tensor or jsonData`,
    );
  } else if (body.jsonData !== undefined) {
    ({ x, rows, kind } = decodeJsonData(body.jsonData, model, scratch));
  } else {
    throw new SeldonError(
      `Invalid request data type: expected one of data, binData, strData, jsonData, but got keys ${describeValue(Object.keys(body))}`,
    );
  }
  let meta: { json: string; puid: string | undefined };
  try {
    meta = responseMeta(body.meta, requestPath);
  } catch (err) {
    // JSON.stringify of client tags nested past the stack's depth.
    if (err instanceof RangeError) throw new SeldonError('meta is nested too deeply');
    throw err;
  }
  return { kind, rows, x, metaJson: meta.json, puid: meta.puid };
}

/**
 * Serialises the response to `request` with predictions `y`, in the request's payload form.
 *
 * @example
 * encodeSeldonResponse(req, new Float64Array([5.2]), served);
 * // '{"data":{"names":[],"ndarray":[5.2]},"meta":{}}'
 */
export function encodeSeldonResponse(request: SeldonRequest, y: Float64Array, model: ServedModel): string {
  switch (request.kind) {
    case 'ndarray':
      return jsonNumbers(y, '{"data":{"names":[],"ndarray":[', ndarrayTail(request.metaJson));
    case 'tensor':
      return (
        '{"data":{"names":[],"tensor":{"shape":[' +
        y.length +
        '],"values":' +
        jsonNumbers(y) +
        '}},"meta":' +
        request.metaJson +
        '}'
      );
    case 'jsonRecord':
      return (
        '{"jsonData":{' + JSON.stringify(model.target) + ':' + y[0] + '},"meta":' + request.metaJson + '}'
      );
    case 'jsonRecords':
      return (
        '{"jsonData":{' +
        JSON.stringify(model.target) +
        ':' +
        jsonNumbers(y) +
        '},"meta":' +
        request.metaJson +
        '}'
      );
  }
}

/** The last ndarray answer's text after its values, and the meta it was made for. */
let lastMeta: string | undefined;
let lastTail = '';
/**
 * `]},"meta":` + meta + `}`: most answers carry the same meta (no puid), and one string for it
 * spares two concatenations per answer (and two pieces for the socket write to flatten).
 */
function ndarrayTail(metaJson: string): string {
  if (metaJson !== lastMeta) {
    lastMeta = metaJson;
    lastTail = ']},"meta":' + metaJson + '}';
  }
  return lastTail;
}

/**
 * The wrapper's error body.
 *
 * @example
 * seldonErrorBody("Can't find JSON in data"); // '{"status":{"status":"FAILURE","info":"Can\'t find JSON in data","code":-1,"reason":"MICROSERVICE_BAD_DATA"}}'
 */
export function seldonErrorBody(info: string, reason: SeldonReason = 'MICROSERVICE_BAD_DATA'): string {
  return JSON.stringify({ status: { status: 'FAILURE', info, code: -1, reason } });
}

/**
 * The executor's error body (unknown model in `/api/v1.0/metadata/{m}`): `code` is the HTTP status.
 *
 * @example
 * executorErrorBody(404, 'Failed to find model nope');
 */
export function executorErrorBody(code: number, info: string): string {
  return JSON.stringify({ status: { code, info, status: 'FAILURE' } });
}

/** A decoded feedback message: what the logger keeps for evaluating the model later. */
export interface SeldonFeedback {
  readonly reward: number | undefined;
  readonly puid: string | undefined;
  readonly truth: unknown;
  readonly request: unknown;
  readonly response: unknown;
}

/**
 * Checks a `Feedback` message's shape (`request`, `response`, `truth` SeldonMessages, `reward` a number).
 *
 * @example
 * decodeSeldonFeedback({ request: { data: { ndarray: [[1, 2]] } }, reward: 1 }).reward; // 1
 */
export function decodeSeldonFeedback(body: unknown): SeldonFeedback {
  if (!isObject(body)) throw new SeldonError('Invalid request data type: feedback must be a JSON object');
  for (const key of ['request', 'response', 'truth'] as const) {
    if (body[key] !== undefined && body[key] !== null && !isObject(body[key])) {
      throw new SeldonError(`feedback.${key} must be a SeldonMessage object`);
    }
  }
  if (
    body.request === undefined &&
    body.response === undefined &&
    body.truth === undefined &&
    body.reward === undefined
  ) {
    throw new SeldonError(
      `Invalid request data type: expected feedback with request, response, reward or truth, but got keys ${describeValue(Object.keys(body))}`,
    );
  }
  const reward = body.reward;
  if (reward !== undefined && (typeof reward !== 'number' || reward - reward !== 0)) {
    throw new SeldonError('feedback.reward must be a finite number');
  }
  const metaOf = (m: unknown) =>
    isObject(m) && isObject(m.meta) && typeof m.meta.puid === 'string' ? m.meta.puid : undefined;
  return {
    reward,
    puid: metaOf(body.response) ?? metaOf(body.request),
    truth: body.truth,
    request: body.request,
    response: body.response,
  };
}

/** The body feedback answers with: the wrapper's response for a model whose feedback returns nothing. */
export const FEEDBACK_RESPONSE = '{"data":{"names":[],"ndarray":[]},"meta":{}}';

/**
 * The model's metadata in the Seldon form (`GET /metadata`): the wrapper's six keys, inputs and
 * outputs in V2 tensor form, `custom` a string map.
 *
 * @example
 * seldonMetadata(served).inputs[0]; // { name: 'input-0', datatype: 'FP64', shape: [-1, 11] }
 */
export function seldonMetadata(model: ServedModel) {
  return {
    name: model.name,
    versions: model.version === undefined ? [] : [model.version],
    platform: 'mlops-kit',
    inputs: [{ name: 'input-0', datatype: 'FP64', shape: [-1, model.features.length] }],
    outputs: [{ name: 'output-0', datatype: 'FP64', shape: [-1] }],
    custom: modelProperties(model),
  };
}

/** String facts about a model for metadata `custom` / `properties` maps. */
export function modelProperties(model: ServedModel): Record<string, string> {
  const d = model.description;
  return {
    format: d.format,
    algorithm: d.algorithm,
    target: d.target,
    features: JSON.stringify(d.features),
    created_at: d.created_at,
  };
}
