/**
 * Distributed Map for the local runner. aws-local-stepfunctions 3 runs every Map state as an inline
 * Map over an array in the state input: it ignores `ItemReader`, `ItemBatcher`, `ResultWriter` and
 * `ToleratedFailure*`, so a Distributed Map over an S3 prefix would see no items. The runner
 * therefore hands the library a Task in the Map's place (same InputPath/ResultSelector/ResultPath/
 * OutputPath/Retry/Catch/Next) and runs the Map Run here, as Step Functions does:
 *
 * 1. items: `ItemReader` (`s3:listObjectsV2` over a prefix, or `s3:getObject` of a JSON, JSON Lines
 *    or CSV file) from the S3 the runner is given, else the array at `ItemsPath`; `MaxItems`;
 * 2. `ItemSelector` per item (`$$.Map.Item.Index`/`Value`), then `ItemBatcher` (`MaxItemsPerBatch`,
 *    `MaxInputBytesPerBatch`, `BatchInput`): a child's input is `{ BatchInput, Items }`;
 * 3. one child execution of `ItemProcessor` per item or batch, at most `MaxConcurrency` at once;
 *    EXPRESS children end `States.Timeout` after 5 minutes, as on AWS;
 * 4. `ToleratedFailurePercentage`/`Count`: past either, no more children start, the running ones are
 *    aborted and the state fails `States.ExceedToleratedFailureThreshold`;
 * 5. `ResultWriter`: `<Prefix>/<map run id>/manifest.json` and `SUCCEEDED_0.json`/`FAILED_0.json`
 *    (every child's ARN, input, output or error), the state's result then being
 *    `{ MapRunArn, ResultWriterDetails: { Bucket, Key } }`; without it, the children's outputs.
 *
 * Errors are Step Functions' own: `States.ItemReaderFailed` (the reader's configuration or object is
 * wrong), `States.ResultWriterFailed`, `States.ExceedToleratedFailureThreshold`, `States.Runtime`.
 */
import { randomUUID } from 'node:crypto';
import { type AslDefinition, type AslState, allStates, NO_TIMEOUT_SECONDS } from './definition';
import { type AwsApi, type Json, TaskFailure } from './integrations';

/** The Resource of the Task that stands in for a Distributed Map in the library's copy. */
export const DISTRIBUTED_MAP_RESOURCE = 'arn:aws:states:::mlops-kit:distributedMap';

/** Step Functions' longest Express execution: a child past it ends `States.Timeout`. */
export const EXPRESS_CHILD_TIMEOUT_MS = 5 * 60 * 1000;

/** Step Functions' child executions at once when `MaxConcurrency` is unset or 0. */
const DEFAULT_MAX_CONCURRENCY = 10_000;

const READERS = {
  list: 'arn:aws:states:::s3:listObjectsV2',
  get: 'arn:aws:states:::s3:getObject',
} as const;
const WRITER = 'arn:aws:states:::s3:putObject';

/** What a Distributed Map runs, taken from the prepared definition (context paths already redirected). */
export interface DistributedMapSpec {
  readonly stateName: string;
  /** The Map's own fields (ItemReader, ItemSelector, ItemBatcher, ResultWriter, …). */
  readonly state: AslState;
  /** The ItemProcessor's states, ready for the library. */
  readonly processor: AslDefinition;
  readonly executionType: 'STANDARD' | 'EXPRESS';
}

export function isDistributedMap(state: AslState): boolean {
  const processor = (state['ItemProcessor'] ?? {}) as { ProcessorConfig?: { Mode?: unknown } };
  return state.Type === 'Map' && processor.ProcessorConfig?.Mode === 'DISTRIBUTED';
}

/** Fields the stand-in Task keeps: the ones Task and Map share. */
const TASK_FIELDS = ['Comment', 'InputPath', 'OutputPath', 'ResultPath', 'ResultSelector', 'Retry', 'Catch', 'Next', 'End'];

/**
 * Turns every Distributed Map of a prepared definition (nested ones included) into the stand-in
 * Task, in place, and returns what each runs, by state name.
 *
 * @example
 * const maps = extractDistributedMaps(prepareForLibrary(def, stateIndex));
 * maps.get('Predict each object')?.executionType; // 'EXPRESS'
 */
export function extractDistributedMaps(prepared: AslDefinition): Map<string, DistributedMapSpec> {
  const out = new Map<string, DistributedMapSpec>();
  for (const [name, state] of allStates(prepared)) {
    if (!isDistributedMap(state)) continue;
    const processor = state['ItemProcessor'] as AslDefinition & { ProcessorConfig: { ExecutionType?: string } };
    const { ProcessorConfig, ...states } = processor;
    out.set(name, {
      stateName: name,
      state: { ...state },
      processor: states as AslDefinition,
      executionType: ProcessorConfig.ExecutionType === 'EXPRESS' ? 'EXPRESS' : 'STANDARD',
    });
    for (const key of Object.keys(state)) if (!TASK_FIELDS.includes(key)) delete state[key];
    Object.assign(state, { Type: 'Task', Resource: DISTRIBUTED_MAP_RESOURCE, TimeoutSeconds: NO_TIMEOUT_SECONDS });
  }
  return out;
}

/** The end of one child execution, as DescribeExecution and the ResultWriter files show it. */
export interface ChildOutcome {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  readonly output?: Json;
  readonly error?: string;
  readonly cause?: string;
}

export interface ChildExecution {
  readonly executionArn: string;
  readonly name: string;
  readonly input: Json;
  /** Aborted when the Map Run fails or the parent stops; the child then ends ABORTED. */
  readonly signal: AbortSignal;
}

/** What the runner gives a Map Run. */
export interface MapRunEnv {
  readonly stateMachineArn: string;
  /** The parent execution's ARN (its region and account name the Map Run). */
  readonly executionArn: string;
  /** S3 for ItemReader and ResultWriter. */
  readonly s3?: AwsApi;
  /** Evaluates a JSONPath payload template against the state input, with `$$.Map.Item` when given. */
  evaluate(template: unknown, input: Json, item?: { Index: number; Value: Json }): Promise<Json>;
  /** Runs the ItemProcessor once to its end; never rejects. */
  runChild(child: ChildExecution): Promise<ChildOutcome>;
  /** Aborted when the parent execution stops. */
  readonly signal: AbortSignal;
  /** Called with the Map Run's ARN before any item is read. */
  onStart?(mapRunArn: string): void;
}

export interface MapRunResult {
  readonly mapRunArn: string;
  readonly output: Json;
  readonly itemCounts: { total: number; succeeded: number; failed: number; aborted: number };
}

const fail = (error: string, cause: string) => new TaskFailure(error, cause);

/**
 * Runs one Map Run of `spec` over the state's effective input; throws a {@link TaskFailure} the
 * library hands to the state's Retry/Catch.
 */
export async function runDistributedMap(spec: DistributedMapSpec, input: Json, env: MapRunEnv): Promise<MapRunResult> {
  const state = spec.state;
  const [, partition = 'aws', , region = '', account = ''] = env.executionArn.split(':');
  const machineName = env.stateMachineArn.split(':').pop() ?? '';
  const label = typeof state['Label'] === 'string' ? state['Label'] : spec.stateName;
  const runId = randomUUID();
  const mapRunArn = `arn:${partition}:states:${region}:${account}:mapRun:${machineName}/${label}:${runId}`;
  env.onStart?.(mapRunArn);

  const items = await readItems(state, input, env);
  const batches = await batchItems(state, input, items, env);
  const maxConcurrency = await numberField(state, 'MaxConcurrency', input, env, 0);
  const toleratedPercentage = await optionalNumberField(state, 'ToleratedFailurePercentage', input, env);
  const toleratedCount = await optionalNumberField(state, 'ToleratedFailureCount', input, env);
  if (toleratedPercentage !== undefined && (toleratedPercentage < 0 || toleratedPercentage > 100)) {
    throw fail('States.Runtime', `ToleratedFailurePercentage must be between 0 and 100, but ${toleratedPercentage} was provided`);
  }
  const exceeded = (failedItems: number) => {
    if (toleratedPercentage === undefined && toleratedCount === undefined) return failedItems > 0;
    if (toleratedCount !== undefined && failedItems > toleratedCount) return true;
    return toleratedPercentage !== undefined && (failedItems / items.length) * 100 > toleratedPercentage;
  };

  const kind = spec.executionType === 'EXPRESS' ? 'express' : 'execution';
  const runAbort = new AbortController();
  const onParentAbort = () => runAbort.abort();
  env.signal.addEventListener('abort', onParentAbort);
  const records: (ChildRecord | undefined)[] = new Array(batches.length);
  let failedItems = 0;
  let thresholdExceeded = false;
  let next = 0;
  const worker = async () => {
    while (!runAbort.signal.aborted) {
      const i = next++;
      if (i >= batches.length) return;
      const batch = batches[i]!;
      const name = randomUUID();
      const executionArn = `arn:${partition}:states:${region}:${account}:${kind}:${machineName}/${label}:${name}`;
      const startDate = new Date().toISOString();
      const outcome = await env.runChild({ executionArn, name, input: batch.input, signal: runAbort.signal });
      records[i] = { executionArn, name, input: batch.input, startDate, stopDate: new Date().toISOString(), outcome };
      if (outcome.status !== 'SUCCEEDED' && outcome.status !== 'ABORTED') {
        failedItems += batch.size;
        if (!thresholdExceeded && exceeded(failedItems)) {
          thresholdExceeded = true;
          runAbort.abort();
        }
      }
    }
  };
  try {
    const pool = Math.max(1, Math.min(batches.length, maxConcurrency > 0 ? maxConcurrency : DEFAULT_MAX_CONCURRENCY));
    await Promise.all(Array.from({ length: pool }, worker));
  } finally {
    env.signal.removeEventListener('abort', onParentAbort);
  }
  if (env.signal.aborted) throw fail('States.Runtime', 'execution stopped');

  const count = (s: ChildOutcome['status']) =>
    batches.reduce((n, b, i) => n + (records[i]?.outcome.status === s ? b.size : 0), 0);
  const itemCounts = {
    total: items.length,
    succeeded: count('SUCCEEDED'),
    failed: failedItems,
    aborted: items.length - count('SUCCEEDED') - failedItems,
  };
  const writer = state['ResultWriter'] as Record<string, unknown> | undefined;
  let output: Json;
  if (writer && (writer['Resource'] !== undefined || writer['Parameters'] !== undefined)) {
    const details = await writeResults(writer, input, env, { mapRunArn, runId, records, machineArn: env.stateMachineArn });
    output = { MapRunArn: mapRunArn, ResultWriterDetails: details };
  } else {
    output = flatten(records.flatMap((r) => (r ? [transform(r, writer, false, env.stateMachineArn)] : [])), writer);
  }
  if (thresholdExceeded) {
    throw fail(
      'States.ExceedToleratedFailureThreshold',
      `The specified tolerated failure threshold was exceeded: ${failedItems} of ${items.length} items failed (Map Run ${mapRunArn})`,
    );
  }
  return { mapRunArn, output, itemCounts };
}

interface ChildRecord {
  readonly executionArn: string;
  readonly name: string;
  readonly input: Json;
  readonly startDate: string;
  readonly stopDate: string;
  readonly outcome: ChildOutcome;
}

// --- items -----------------------------------------------------------------------------------

async function readItems(state: AslState, input: Json, env: MapRunEnv): Promise<Json[]> {
  const reader = state['ItemReader'] as Record<string, unknown> | undefined;
  if (!reader) {
    const path = typeof state['ItemsPath'] === 'string' ? state['ItemsPath'] : '$';
    const items = path === '$' ? input : await env.evaluate({ 'items.$': path }, input).then((r) => (r as { items: Json }).items);
    if (!Array.isArray(items)) {
      throw fail('States.Runtime', `the Map's ItemsPath ${path} must select an array, but it selected ${JSON.stringify(items)?.slice(0, 100)}`);
    }
    return items;
  }
  const readerFailed = (why: string) => fail('States.ItemReaderFailed', why);
  if (!env.s3) throw readerFailed('the local runner was given no S3 to read the ItemReader from');
  let params: Record<string, Json>;
  try {
    params = (await env.evaluate(reader['Parameters'] ?? {}, input)) as Record<string, Json>;
  } catch (err) {
    throw readerFailed(`the ItemReader's Parameters could not be evaluated: ${(err as Error).message}`);
  }
  const config = (reader['ReaderConfig'] ?? {}) as Record<string, unknown>;
  let maxItems = typeof config['MaxItems'] === 'number' ? config['MaxItems'] : undefined;
  if (typeof config['MaxItemsPath'] === 'string') {
    const r = (await env.evaluate({ 'v.$': config['MaxItemsPath'] }, input)) as { v: unknown };
    if (typeof r.v !== 'number') throw readerFailed(`MaxItemsPath must select a number, but ${JSON.stringify(r.v)} was selected`);
    maxItems = r.v;
  }
  if (maxItems !== undefined && (!Number.isInteger(maxItems) || maxItems < 0 || maxItems > 100_000_000)) {
    throw readerFailed(`MaxItems must be an integer from 0 to 100000000, but ${maxItems} was provided`);
  }
  const limit = maxItems || Number.POSITIVE_INFINITY;
  if (typeof params['Bucket'] !== 'string' || params['Bucket'] === '') {
    throw readerFailed(`the ItemReader's Parameters must name a Bucket, but ${JSON.stringify(params['Bucket'] ?? null)} was provided`);
  }
  const resource = String(reader['Resource'] ?? '').replace(/^arn:aws[\w-]*:/, 'arn:aws:');
  const s3 = env.s3;
  const call = async (op: string, p: Record<string, unknown>) => {
    try {
      return (await s3(op, p)) as Record<string, unknown>;
    } catch (err) {
      const e = err as Error;
      throw readerFailed(`S3 ${op} of s3://${params['Bucket']}/${String(p['Prefix'] ?? p['Key'] ?? '')} failed: ${e.name}: ${e.message}`);
    }
  };
  if (resource === READERS.list) {
    const items: Json[] = [];
    let token: string | undefined;
    do {
      const page = await call('ListObjectsV2', { ...params, ...(token ? { ContinuationToken: token } : {}) });
      for (const o of (page['Contents'] ?? []) as Record<string, unknown>[]) {
        if (items.length >= limit) break;
        const modified = o['LastModified'] instanceof Date ? o['LastModified'] : new Date(String(o['LastModified']));
        items.push({
          Etag: String(o['ETag'] ?? ''),
          Key: String(o['Key']),
          LastModified: Math.floor(modified.getTime() / 1000),
          Size: Number(o['Size'] ?? 0),
          StorageClass: String(o['StorageClass'] ?? 'STANDARD'),
        });
      }
      token = page['IsTruncated'] && items.length < limit ? String(page['NextContinuationToken']) : undefined;
    } while (token);
    return items;
  }
  if (resource !== READERS.get) {
    throw readerFailed(`the ItemReader's Resource must be ${READERS.list} or ${READERS.get}, but ${String(reader['Resource'])} was provided`);
  }
  if (typeof params['Key'] !== 'string') throw readerFailed(`the ItemReader reads one object with s3:getObject and needs its Key`);
  const inputType = config['InputType'];
  if (!['JSON', 'JSONL', 'CSV'].includes(String(inputType))) {
    throw readerFailed(`ReaderConfig.InputType must be JSON, JSONL or CSV for the local runner, but ${JSON.stringify(inputType ?? null)} was provided`);
  }
  const text = await bodyText((await call('GetObject', params))['Body']);
  const where = `s3://${params['Bucket']}/${params['Key']}`;
  let items: Json[];
  if (inputType === 'JSON') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw readerFailed(`${where} is not JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw readerFailed(`${where} must hold a JSON array of items, but it holds ${typeof parsed}`);
    items = parsed as Json[];
  } else if (inputType === 'JSONL') {
    items = [];
    for (const [i, line] of text.split('\n').entries()) {
      if (line.trim() === '') continue;
      try {
        items.push(JSON.parse(line) as Json);
      } catch (err) {
        throw readerFailed(`${where} line ${i + 1} is not JSON: ${(err as Error).message}`);
      }
    }
  } else {
    items = csvItems(text, config, where, readerFailed);
  }
  return items.slice(0, Math.min(items.length, limit));
}

async function bodyText(body: unknown): Promise<string> {
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  const b = body as { transformToString?: () => Promise<string> } | undefined;
  if (b?.transformToString) return b.transformToString();
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

const DELIMITERS: Record<string, string> = { COMMA: ',', PIPE: '|', SEMICOLON: ';', SPACE: ' ', TAB: '\t' };

function csvItems(
  text: string,
  config: Record<string, unknown>,
  where: string,
  readerFailed: (why: string) => TaskFailure,
): Json[] {
  const delimiterName = String(config['CSVDelimiter'] ?? 'COMMA');
  const delimiter = DELIMITERS[delimiterName];
  if (!delimiter) throw readerFailed(`CSVDelimiter must be one of ${Object.keys(DELIMITERS).join(', ')}, but ${delimiterName} was provided`);
  const rows = parseCsvRows(text, delimiter);
  const location = config['CSVHeaderLocation'] ?? 'FIRST_ROW';
  let header: string[];
  if (location === 'GIVEN') {
    if (!Array.isArray(config['CSVHeaders']) || config['CSVHeaders'].length === 0) {
      throw readerFailed('CSVHeaderLocation GIVEN needs CSVHeaders, a non-empty list of column names');
    }
    header = config['CSVHeaders'].map(String);
  } else if (location === 'FIRST_ROW') {
    const first = rows.shift();
    if (!first) throw readerFailed(`${where} is empty: CSVHeaderLocation FIRST_ROW needs a header row`);
    header = first;
  } else {
    throw readerFailed(`CSVHeaderLocation must be FIRST_ROW or GIVEN, but ${JSON.stringify(location)} was provided`);
  }
  return rows.map((row, i) => {
    if (row.length !== header.length) {
      throw readerFailed(`${where} row ${i + 1} has ${row.length} fields; the header has ${header.length}`);
    }
    return Object.fromEntries(header.map((h, j) => [h, row[j]!]));
  });
}

/** RFC 4180 rows (quoted fields may hold the delimiter, quotes doubled and line breaks); blank lines skipped. */
export function parseCsvRows(text: string, delimiter: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const endRow = () => {
    row.push(field);
    if (!(row.length === 1 && row[0] === '')) rows.push(row);
    row = [];
    field = '';
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') {
      quoted = true;
    } else if (c === delimiter) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      endRow();
      if (c === '\r' && text[i + 1] === '\n') i++;
    } else {
      field += c;
    }
    i++;
  }
  if (field !== '' || row.length > 0) endRow();
  return rows;
}

// --- batches ---------------------------------------------------------------------------------

async function batchItems(
  state: AslState,
  input: Json,
  items: Json[],
  env: MapRunEnv,
): Promise<{ input: Json; size: number }[]> {
  const selector = state['ItemSelector'] ?? state['Parameters'];
  const selected: Json[] = [];
  for (const [Index, Value] of items.entries()) {
    selected.push(selector === undefined ? Value : await env.evaluate(selector, input, { Index, Value }));
  }
  const batcher = state['ItemBatcher'] as Record<string, unknown> | undefined;
  if (!batcher) return selected.map((item) => ({ input: item, size: 1 }));
  const maxItems = await optionalNumberField(batcher, 'MaxItemsPerBatch', input, env);
  const maxBytes = await optionalNumberField(batcher, 'MaxInputBytesPerBatch', input, env);
  for (const [name, v] of [['MaxItemsPerBatch', maxItems], ['MaxInputBytesPerBatch', maxBytes]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw fail('States.Runtime', `ItemBatcher ${name} must be a positive integer, but ${v} was provided`);
    }
  }
  if (maxItems === undefined && maxBytes === undefined) {
    throw fail('States.Runtime', 'an ItemBatcher needs MaxItemsPerBatch or MaxInputBytesPerBatch');
  }
  const batchInput = batcher['BatchInput'] === undefined ? undefined : await env.evaluate(batcher['BatchInput'], input);
  const wrap = (batch: Json[]): Json => ({ ...(batchInput !== undefined ? { BatchInput: batchInput } : {}), Items: batch });
  const limitBytes = Math.min(maxBytes ?? 256 * 1024, 256 * 1024);
  const batches: { input: Json; size: number }[] = [];
  let current: Json[] = [];
  let bytes = Buffer.byteLength(JSON.stringify(wrap([])));
  for (const item of selected) {
    const size = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (size + Buffer.byteLength(JSON.stringify(wrap([]))) > limitBytes) {
      throw fail('States.Runtime', `an item of ${size} bytes does not fit a batch of at most ${limitBytes} bytes (MaxInputBytesPerBatch)`);
    }
    if (current.length > 0 && ((maxItems !== undefined && current.length >= maxItems) || bytes + size > limitBytes)) {
      batches.push({ input: wrap(current), size: current.length });
      current = [];
      bytes = Buffer.byteLength(JSON.stringify(wrap([])));
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) batches.push({ input: wrap(current), size: current.length });
  return batches;
}

async function optionalNumberField(
  fields: Record<string, unknown>,
  name: string,
  input: Json,
  env: MapRunEnv,
): Promise<number | undefined> {
  if (fields[`${name}Path`] !== undefined) {
    const r = (await env.evaluate({ 'v.$': fields[`${name}Path`] }, input)) as { v: unknown };
    if (typeof r.v !== 'number') throw fail('States.Runtime', `${name}Path must select a number, but ${JSON.stringify(r.v)} was selected`);
    return r.v;
  }
  const v = fields[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number') throw fail('States.Runtime', `${name} must be a number, but ${JSON.stringify(v)} was provided`);
  return v;
}

async function numberField(fields: Record<string, unknown>, name: string, input: Json, env: MapRunEnv, dflt: number) {
  return (await optionalNumberField(fields, name, input, env)) ?? dflt;
}

// --- results ---------------------------------------------------------------------------------

/** One child as ResultWriter's files (and, with Transformation NONE, the state output) show it. */
function described(r: ChildRecord, machineArn: string): Record<string, Json> {
  const o = r.outcome;
  return {
    ExecutionArn: r.executionArn,
    Input: JSON.stringify(r.input),
    InputDetails: { Included: true },
    Name: r.name,
    ...(o.status === 'SUCCEEDED'
      ? { Output: JSON.stringify(o.output ?? null), OutputDetails: { Included: true } }
      : { Error: o.error ?? '', Cause: o.cause ?? '' }),
    RedriveCount: 0,
    RedriveStatus: 'NOT_REDRIVABLE',
    // Redrive is not run locally.
    RedriveStatusReason: `Execution is ${o.status} and cannot be redriven locally`,
    StartDate: r.startDate,
    StateMachineArn: machineArn,
    Status: o.status,
    StopDate: r.stopDate,
  };
}

/** WriterConfig.Transformation: NONE (the default when exporting), COMPACT (outputs only) or FLATTEN. */
function transform(r: ChildRecord, writer: Record<string, unknown> | undefined, exporting: boolean, machineArn = ''): Json {
  const config = (writer?.['WriterConfig'] ?? {}) as { Transformation?: string };
  const t = config.Transformation ?? (exporting ? 'NONE' : 'COMPACT');
  // A failed child is always shown whole, whatever the transformation.
  if (t === 'NONE' || r.outcome.status !== 'SUCCEEDED') return described(r, machineArn);
  return r.outcome.output ?? null;
}

/** FLATTEN: children's array outputs are spread into the list. */
function flatten(entries: Json[], writer: Record<string, unknown> | undefined): Json[] {
  const t = ((writer?.['WriterConfig'] ?? {}) as { Transformation?: string }).Transformation;
  return t === 'FLATTEN' ? entries.flatMap((e) => (Array.isArray(e) ? e : [e])) : entries;
}

async function writeResults(
  writer: Record<string, unknown>,
  input: Json,
  env: MapRunEnv,
  run: { mapRunArn: string; runId: string; records: (ChildRecord | undefined)[]; machineArn: string },
): Promise<Json> {
  const writerFailed = (why: string) => fail('States.ResultWriterFailed', why);
  if (String(writer['Resource'] ?? '').replace(/^arn:aws[\w-]*:/, 'arn:aws:') !== WRITER) {
    throw writerFailed(`the ResultWriter's Resource must be ${WRITER}, but ${JSON.stringify(writer['Resource'] ?? null)} was provided`);
  }
  if (!env.s3) throw writerFailed('the local runner was given no S3 to write the results to');
  const params = (await env.evaluate(writer['Parameters'] ?? {}, input)) as Record<string, Json>;
  const bucket = params['Bucket'];
  if (typeof bucket !== 'string' || bucket === '') {
    throw writerFailed(`the ResultWriter's Parameters must name a Bucket, but ${JSON.stringify(bucket ?? null)} was provided`);
  }
  const prefix = typeof params['Prefix'] === 'string' ? params['Prefix'].replace(/\/+$/, '') : '';
  const dir = `${prefix ? `${prefix}/` : ''}${run.runId}/`;
  const jsonl = ((writer['WriterConfig'] ?? {}) as { OutputType?: string }).OutputType === 'JSONL';
  const s3 = env.s3;
  const put = async (key: string, body: string) => {
    try {
      await s3('PutObject', { Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' });
    } catch (err) {
      const e = err as Error;
      throw writerFailed(`S3 PutObject of s3://${bucket}/${key} failed: ${e.name}: ${e.message}`);
    }
    return { Key: key, Size: Buffer.byteLength(body) };
  };
  const files: Record<'FAILED' | 'PENDING' | 'SUCCEEDED', Json[]> = { FAILED: [], PENDING: [], SUCCEEDED: [] };
  const groups = { SUCCEEDED: [] as Json[], FAILED: [] as Json[] };
  for (const r of run.records) {
    if (!r || r.outcome.status === 'ABORTED') continue;
    const entry = transform(r, writer, true, run.machineArn);
    (r.outcome.status === 'SUCCEEDED' ? groups.SUCCEEDED : groups.FAILED).push(entry);
  }
  for (const status of ['SUCCEEDED', 'FAILED'] as const) {
    const entries = flatten(groups[status], writer);
    if (entries.length === 0) continue;
    const body = jsonl ? `${entries.map((e) => JSON.stringify(e)).join('\n')}\n` : JSON.stringify(entries);
    files[status].push(await put(`${dir}${status}_0.${jsonl ? 'jsonl' : 'json'}`, body));
  }
  const manifest = await put(
    `${dir}manifest.json`,
    JSON.stringify({ DestinationBucket: bucket, MapRunArn: run.mapRunArn, ResultFiles: files }),
  );
  return { Bucket: bucket, Key: manifest.Key };
}
