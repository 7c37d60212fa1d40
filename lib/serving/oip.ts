/**
 * Open Inference Protocol (KServe V2) codec for the kit's linear models, as pure functions of
 * parsed JSON.
 *
 * Inputs, two forms:
 * - one tensor (any name; metadata calls it `input-0`) of shape `[N, n]` holding N rows of the
 *   model's n features, row-major, flattened or nested;
 * - one tensor per feature, named by the feature, each of shape `[N]` or `[N, 1]` (the columnar
 *   form of MLServer's pandas codec), in any order.
 *
 * Datatypes: the numeric ones of the spec's table, each checked for its own domain (BOOL takes
 * `true`/`false`; integer types take integers in range; FP16/BF16/FP32 take finite numbers within
 * their range). BYTES and unknown datatypes are 400s: the model takes numbers.
 *
 * Output: `output-0`, FP64 (the model computes in doubles), shape `[N, 1]`. An empty batch
 * (`[0, n]`) answers shape `[0, 1]` with no data: deterministic, never an error.
 */
import { describeValue } from './describe';
import { jsonNumbers, type ServedModel } from './model';
import { type Float64Scratch, float64 } from './scratch';
import { modelProperties } from './seldon';

/** The name of the one input tensor in metadata. */
export const INPUT_NAME = 'input-0';
/** The name of the model's one output tensor. */
export const OUTPUT_NAME = 'output-0';
/** A response's text from its outputs to the shape's row count. */
const OUTPUTS_HEAD = `,"outputs":[{"name":"${OUTPUT_NAME}","datatype":"FP64","shape":[`;
/** After the output's row count: its column count and the start of its data. */
const DATA_HEAD = ',1],"data":[';

/** A request the client got wrong (or an unknown model), with its HTTP status. */
export class OipError extends Error {
  override readonly name = 'OipError';
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** A decoded inference request. */
export interface OipRequest {
  readonly id: string | undefined;
  readonly rows: number;
  /** `rows × features` values, row-major, in the model's feature order. */
  readonly x: Float64Array;
}

/** The highest tensor rank accepted in nested data. */
export const MAX_RANK = 32;
/**
 * The most elements one input may declare. Checked before the buffer is allocated, so a small body
 * cannot ask for gigabytes; 2^22 values need more than 8 MiB of JSON, the server's default body limit.
 */
const MAX_ELEMENTS = 2 ** 22;

/** Maps a JSON value to a tensor element, or `undefined` when it is not one of its datatype. */
export type Check = (v: unknown) => number | undefined;

const int =
  (min: number, max: number): Check =>
  (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : undefined;
const float =
  (max: number): Check =>
  (v) =>
    typeof v === 'number' && v - v === 0 && Math.abs(v) <= max ? v : undefined;

// Ranges as doubles: the 64-bit bounds are not exactly representable, and integers past 2^53
// arrive from JSON.parse already rounded, so those types are checked against the double bounds.
const DATATYPES: Readonly<Record<string, Check>> = {
  BOOL: (v) => (v === true ? 1 : v === false ? 0 : undefined),
  UINT8: int(0, 0xff),
  UINT16: int(0, 0xffff),
  UINT32: int(0, 0xffffffff),
  UINT64: int(0, 2 ** 64),
  INT8: int(-0x80, 0x7f),
  INT16: int(-0x8000, 0x7fff),
  INT32: int(-0x80000000, 0x7fffffff),
  INT64: int(-(2 ** 63), 2 ** 63),
  FP16: float(65504),
  BF16: float(3.3895313892515355e38),
  FP32: float(3.4028234663852886e38),
  FP64: float(Number.MAX_VALUE),
};

/**
 * The element check of a datatype name, `undefined` for BYTES and unknown names (own keys only: a
 * name like `toString` or `valueOf` must not reach Object.prototype's functions).
 *
 * @example
 * datatypeCheck('UINT8')?.(300); // undefined: out of range
 */
export function datatypeCheck(datatype: string): Check | undefined {
  return Object.hasOwn(DATATYPES, datatype) ? DATATYPES[datatype] : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkParameters(p: unknown, where: string): void {
  if (p === undefined) return;
  if (!isObject(p)) throw new OipError(`${where} must be an object, but ${describeValue(p)} was provided`);
}

interface Tensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float64Array;
}

/** Copies `data` (flat or nested) into `out` from `at`; returns the next index, -1 past `out`'s end. */
function fill(
  data: readonly unknown[],
  out: Float64Array,
  at: number,
  check: Check,
  where: string,
  depth: number,
): number {
  // Deeper than any tensor rank a client means; bounded so the recursion cannot overflow the stack.
  if (depth > MAX_RANK) throw new OipError(`${where} is nested more than ${MAX_RANK} levels deep`);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (Array.isArray(v)) {
      at = fill(v, out, at, check, where, depth + 1);
      if (at < 0) return at;
      continue;
    }
    if (at >= out.length) return -1;
    const n = check(v);
    if (n === undefined)
      throw new OipError(`${where} holds ${describeValue(v)}, which is not a valid element of its datatype`);
    out[at++] = n;
  }
  return at;
}

function decodeTensor(input: unknown, i: number, scratch: Float64Scratch | undefined): Tensor {
  const where = `inputs[${i}]`;
  if (!isObject(input)) throw new OipError(`${where} must be an object with name, shape, datatype and data`);
  const { name, shape, datatype, data } = input;
  if (typeof name !== 'string') throw new OipError(`${where}.name must be a string`);
  const at = `input "${name}"`;
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
    throw new OipError(
      `${at}: shape must be an array of non-negative integers, but ${describeValue(shape)} was provided`,
    );
  }
  if (typeof datatype !== 'string') throw new OipError(`${at}: datatype must be a string`);
  const check = datatypeCheck(datatype);
  if (check === undefined) {
    throw new OipError(
      datatype === 'BYTES'
        ? `${at}: datatype BYTES is not supported: the model takes numbers`
        : `${at}: unknown datatype ${describeValue(datatype)}; expected one of ${Object.keys(DATATYPES).join(', ')}`,
    );
  }
  checkParameters(input.parameters, `${at}: parameters`);
  if (!Array.isArray(data)) throw new OipError(`${at}: data must be an array`);
  let size = 1;
  for (const d of shape as number[]) size *= d;
  if (size > MAX_ELEMENTS) {
    throw new OipError(`${at}: shape ${describeValue(shape)} holds more than ${MAX_ELEMENTS} elements`);
  }
  const values = float64(size, scratch);
  const end = fill(data, values, 0, check, `${at}: data`, 1);
  if (end !== size) {
    throw new OipError(
      `${at}: shape ${JSON.stringify(shape)} needs ${size} values, but data holds ${end < 0 ? 'more' : end}`,
    );
  }
  return { name, shape: shape as number[], values };
}

function fromMatrix(t: Tensor, f: number): { x: Float64Array; rows: number } {
  if (t.shape.length !== 2 || t.shape[1] !== f) {
    throw new OipError(
      `input "${t.name}": shape must be [N, ${f}], but ${JSON.stringify(t.shape)} was provided`,
    );
  }
  return { x: t.values, rows: t.shape[0]! };
}

function fromColumns(tensors: readonly Tensor[], model: ServedModel): { x: Float64Array; rows: number } {
  const f = model.features.length;
  const first = tensors[0]!;
  const rows = first.shape[0] ?? 0;
  const x = new Float64Array(rows * f);
  for (const t of tensors) {
    if (!((t.shape.length === 1 || (t.shape.length === 2 && t.shape[1] === 1)) && t.shape[0] === rows)) {
      throw new OipError(
        `input "${t.name}": one-column inputs must all have shape [${rows}] or [${rows}, 1], but ${JSON.stringify(t.shape)} was provided`,
      );
    }
    const col = model.featureIndex.get(t.name)!;
    for (let r = 0; r < rows; r++) x[r * f + col] = t.values[r]!;
  }
  return { x, rows };
}

/**
 * Decodes an inference request for `model`; throws {@link OipError} for anything a client got wrong.
 * With `scratch`, `x` of a one-tensor request is a view of it (valid until its next use).
 *
 * @example
 * const req = decodeOipRequest({ id: '1', inputs: [{ name: 'input-0', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }, served);
 */
export function decodeOipRequest(body: unknown, model: ServedModel, scratch?: Float64Scratch): OipRequest {
  if (!isObject(body)) throw new OipError('the request body must be a JSON object with "inputs"');
  const { id, inputs, outputs } = body;
  if (id !== undefined && typeof id !== 'string')
    throw new OipError(`id must be a string, but ${describeValue(id)} was provided`);
  checkParameters(body.parameters, 'parameters');
  if (outputs !== undefined) {
    if (!Array.isArray(outputs)) throw new OipError('outputs must be an array of {"name": string}');
    for (const o of outputs) {
      if (!isObject(o) || typeof o.name !== 'string')
        throw new OipError('outputs must be an array of {"name": string}');
      if (o.name !== OUTPUT_NAME)
        throw new OipError(`unknown output ${describeValue(o.name)}: the model has output "${OUTPUT_NAME}"`);
      checkParameters(o.parameters, `outputs "${o.name}": parameters`);
    }
  }
  if (!Array.isArray(inputs) || inputs.length === 0)
    throw new OipError('inputs must be a non-empty array of tensors');
  // One tensor is the matrix form (or a one-feature column): its values are x, so they may live in
  // the scratch. Columns are copied into a new x, so each needs its own storage.
  const tensors = inputs.map((input, i) =>
    decodeTensor(input, i, inputs.length === 1 ? scratch : undefined),
  );
  const f = model.features.length;
  const columnar =
    tensors.length === f &&
    tensors.every((t) => model.featureIndex.has(t.name)) &&
    new Set(tensors.map((t) => t.name)).size === f;
  if (!columnar && tensors.length !== 1) {
    throw new OipError(
      `inputs must be one tensor of shape [N, ${f}] or one tensor per feature named ${JSON.stringify(model.features)}, but ${tensors.length} inputs were provided`,
    );
  }
  // A one-feature model's single [N, 1] input reads the same either way.
  const { x, rows } =
    columnar && !(f === 1 && tensors[0]!.shape.length === 2)
      ? fromColumns(tensors, model)
      : fromMatrix(tensors[0]!, f);
  return { id, rows, x };
}

/** Precomputed pieces of a model's response, so a response is a handful of concatenations. */
export interface OipResponder {
  readonly head: string;
  /** The response of a request without `id` up to its row count: `head` and the output's fixed fields. */
  readonly outputHead: string;
  /**
   * The text before the values of the last answer without `id`, and its row count: clients send
   * one batch size over and over, and one string spares two concatenations per answer (and two
   * pieces for the socket write to flatten).
   */
  last: { rows: number; prefix: string };
}

/**
 * Prepares the fixed parts of `model`'s responses.
 *
 * @example
 * const responder = oipResponder(served);
 */
export function oipResponder(model: ServedModel): OipResponder {
  let head = '{"model_name":' + JSON.stringify(model.name);
  if (model.version !== undefined) head += ',"model_version":' + JSON.stringify(model.version);
  return { head, outputHead: head + OUTPUTS_HEAD, last: { rows: -1, prefix: '' } };
}

/**
 * Serialises the inference response for predictions `y`.
 *
 * @example
 * encodeOipResponse(oipResponder(served), req, new Float64Array([5.2]));
 * // '{"model_name":"wine","id":"1","outputs":[{"name":"output-0","datatype":"FP64","shape":[1,1],"data":[5.2]}]}'
 */
export function encodeOipResponse(responder: OipResponder, request: OipRequest, y: Float64Array): string {
  const rows = y.length;
  if (request.id !== undefined) {
    const head = responder.head + ',"id":' + JSON.stringify(request.id) + OUTPUTS_HEAD;
    return jsonNumbers(y, head + rows + DATA_HEAD, ']}]}');
  }
  const last = responder.last;
  if (last.rows !== rows) {
    last.rows = rows;
    last.prefix = responder.outputHead + rows + DATA_HEAD;
  }
  return jsonNumbers(y, last.prefix, ']}]}');
}

/**
 * The OIP error body.
 *
 * @example
 * oipErrorBody('Model nope not found'); // '{"error":"Model nope not found"}'
 */
export function oipErrorBody(message: string): string {
  return JSON.stringify({ error: message });
}

/**
 * The model metadata response.
 *
 * @example
 * oipModelMetadata(served).inputs[0].shape; // [-1, 11]
 */
export function oipModelMetadata(model: ServedModel) {
  return {
    name: model.name,
    ...(model.version === undefined ? {} : { versions: [model.version] }),
    platform: 'mlops-kit_linear-model',
    inputs: [{ name: INPUT_NAME, datatype: 'FP64', shape: [-1, model.features.length] }],
    outputs: [{ name: OUTPUT_NAME, datatype: 'FP64', shape: [-1, 1] }],
    properties: modelProperties(model),
  };
}

/**
 * The server metadata response (`GET /v2`).
 *
 * @example
 * oipServerMetadata('0.1.0'); // { name: 'mlops-kit-model-server', version: '0.1.0', extensions: [] }
 */
export function oipServerMetadata(version: string) {
  return { name: 'mlops-kit-model-server', version, extensions: [] as string[] };
}

/**
 * Resolves the model a `/v2/models/{m}[/versions/{v}]` path addresses; throws a 404 {@link OipError}
 * in the messages MLServer uses when it is not this one.
 *
 * @example
 * checkOipModel(served, 'wine', '2');
 */
export function checkOipModel(model: ServedModel, name: string, version: string | undefined): void {
  if (name !== model.name) throw new OipError(`Model ${name} not found`, 404);
  if (version !== undefined && version !== model.version)
    throw new OipError(`Model ${name} with version ${version} not found`, 404);
}
