/**
 * The training job's Gram path (`gram.ts`): the channels are streamed in chunks of
 * {@link GRAM_CHUNK_ROWS} rows through the same CSV and Parquet parsers as the column path
 * (`columnar.ts`), so memory holds one chunk and the (p + 1)² statistics, never the matrix.
 *
 * Passes over the training rows:
 *  1. the files' heads (`readHeads` up to each CSV file's header line);
 *  2. the parse (`gram-csv.ts`): a CSV file in byte ranges on several threads while this one hashes
 *     it, each chunk added to its range's statistics and written, as float64 columns, to a spill file
 *     in the temporary directory (`TMPDIR`; 8·(p + 1) bytes a row, about half a CSV's size); the
 *     ranges' statistics merged in file order, so the result does not depend on the threads;
 *  3. after the fit, the spill file is read back a chunk at a time to score the model on the training
 *     rows. A second pass is needed because MAE (and scikit-learn's RMSE, computed from the residuals
 *     rather than from wᵀQw − 2qᵀw + ‖y‖², which cancels when the fit is good) depends on every row's
 *     residual, known only once the coefficients are. Reading the spill back costs a fraction of a
 *     second per million rows where parsing the CSV again costs several seconds; when the spill file
 *     cannot be written (a full disk) the channel is parsed again instead.
 * The validation channel is scored in one streamed pass; its R² takes the target's sum of squares
 * from the target's streamed moments (its mean is not known before the end).
 *
 * Failures word themselves as on the column path: a CSV-only channel of at most
 * {@link LEGACY_MESSAGE_MAX_BYTES} is read once more by `csv.ts` on failure (as the column path does),
 * a larger one reports the streaming parser's message (the same checks, the same wording, but not the
 * whole-file reader's choice of which problem comes first) rather than holding the file as a string.
 *
 * @example
 * if ((await choosePath(hps.precompute, files)) === 'gram') trained = await trainOnGram(files, undefined, hps, {});
 */
import { open, stat } from 'node:fs/promises';
import {
  type ChannelHeads,
  type Connection,
  duckdb,
  legacyTables,
  parseInto,
  readHeads,
  type ReadChannelOptions,
  type ReadFileVersion,
  withLegacyMessages,
} from './columnar';
import type { ChannelFile, Hyperparameters, RegressionMetrics } from './contract';
import { checkSameColumns, CsvError, toDesign, toTrainingSet, trainingFeatureNames } from './csv';
import type { ElasticNetFit } from './elasticnet';
import { fitElasticNetGram, gramStats, MomentAccumulator } from './gram';
import { momentsOfChannel } from './gram-csv';
import { StreamingMetrics } from './metrics';

/** Rows per chunk: a whole number of DuckDB's 2,048-row vectors; 2.75 MB at 20 features + target. */
export const GRAM_CHUNK_ROWS = 16_384;

/**
 * `precompute: "auto"` takes the Gram path from this estimated matrix size on (rows × columns × 8
 * bytes; 64 MiB ≈ 400,000 rows of 20 features + target). Measured with `bench/train/e2e.ts` (loaded
 * machine, 2026-12-05): at 1,000,000 × 20 the column path peaks at 1.59× its matrix on CSV and 2.24×
 * on Parquet, the Gram path at 0.47× and 1.23×, with less CPU (1.7 s vs 2.4 s Parquet); at
 * 5,000,000 × 20 the Gram path peaks at 74 MiB (CSV) and 216 MiB (Parquet).
 */
export const GRAM_AUTO_MIN_MATRIX_BYTES = 64 * 2 ** 20;

/**
 * For a channel with CSV in it, `"auto"` takes the Gram path from this size. It was 512 MiB while the
 * Gram path parsed CSV on one thread (1,000,000 × 20: 4.98 s against the column path's 3.05 s, quiet);
 * since it parses on every core (`gram-csv.ts`) both paths spend about the same CPU there
 * (`bench/train/e2e.ts` at load 20+, 2026-12-06: 1,000,000 × 20 CSV 2.9–3.2 s CPU Gram, 2.8–3.0 s
 * column), and the Gram path peaks at 103–106 MiB against 263 MiB (1.64× the matrix). At 200,000 × 20
 * it costs 0.17 s more CPU (its worker's start and the spill) for 97 against 118 MiB, so the budget
 * stays with the Parquet one, at 64 MiB.
 */
export const GRAM_AUTO_MIN_CSV_MATRIX_BYTES = 64 * 2 ** 20;

/** A failing CSV channel up to this size is read again whole to word the failure as `csv.ts` does. */
export const LEGACY_MESSAGE_MAX_BYTES = 64 * 2 ** 20;

export type TrainingPath = 'gram' | 'columns';

/** Bytes sampled from the start of a CSV file to estimate its row count. */
const SAMPLE_BYTES = 1 << 16;

/**
 * An estimate of the float64 matrix a channel would fill, without reading it: a CSV file's rows from
 * its size and the line length of its first 64 KiB, a Parquet file's rows from its footer (DuckDB).
 */
export async function estimateMatrixBytes(files: readonly ChannelFile[]): Promise<number> {
  let bytes = 0;
  let db: Connection | undefined;
  try {
    for (const f of files) {
      const fh = await open(f.path, 'r');
      let sample: Buffer;
      let size: number;
      try {
        size = (await fh.stat()).size;
        const b = Buffer.alloc(Math.min(SAMPLE_BYTES, size));
        const { bytesRead } = await fh.read(b, 0, b.length, 0);
        sample = b.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
      if (sample.subarray(0, 4).toString('latin1') === 'PAR1') {
        db ??= await duckdb();
        const { rows, cols } = await parquetShape(db, f.path);
        bytes += rows * cols * 8;
        continue;
      }
      const text = sample.toString('utf8');
      const lines = text.split('\n');
      const cols = (lines[0] ?? '').split(/[,;]/).length;
      // The sample's whole lines, the header's among them, give bytes per line.
      const whole = Math.max(1, lines.length - (sample.length < size ? 1 : 0));
      const perLine = Math.max(1, (text.length - (lines.at(-1)?.length ?? 0)) / whole);
      bytes += Math.max(0, size / perLine - 1) * cols * 8;
    }
  } finally {
    db?.close();
  }
  return bytes;
}

/** A Parquet file's rows and columns, from its footer. */
async function parquetShape(db: Connection, path: string): Promise<{ rows: number; cols: number }> {
  const from = `read_parquet('${path.replaceAll("'", "''")}')`;
  const sql = `SELECT (SELECT count(*) FROM ${from})::DOUBLE AS n, (SELECT count(*) FROM (DESCRIBE SELECT * FROM ${from}))::DOUBLE AS c`;
  const r = await (await db.run(sql)).getRowObjectsJS();
  return { rows: Number(r[0]!['n']), cols: Number(r[0]!['c']) };
}

/**
 * Which path trains: `precompute` true or false forces it, `"auto"` takes the Gram path when the
 * matrix would be at least {@link GRAM_AUTO_MIN_MATRIX_BYTES} (Parquet only) or
 * {@link GRAM_AUTO_MIN_CSV_MATRIX_BYTES} (any CSV). An unreadable file leaves the choice to
 * the column path, whose reader words that failure.
 *
 * @example
 * await choosePath('auto', files); // 'columns' for the wine data
 */
export async function choosePath(
  precompute: Hyperparameters['precompute'],
  files: readonly ChannelFile[],
  budgets: { readonly parquet: number; readonly csv: number } = { parquet: GRAM_AUTO_MIN_MATRIX_BYTES, csv: GRAM_AUTO_MIN_CSV_MATRIX_BYTES },
): Promise<TrainingPath> {
  if (precompute !== 'auto') return precompute ? 'gram' : 'columns';
  let bytes: number;
  let parquetOnly: boolean;
  try {
    bytes = await estimateMatrixBytes(files);
    parquetOnly = (await Promise.all(files.map(isParquetFile))).every(Boolean);
  } catch {
    return 'columns';
  }
  return bytes >= (parquetOnly ? budgets.parquet : budgets.csv) ? 'gram' : 'columns';
}

async function isParquetFile(f: ChannelFile): Promise<boolean> {
  const fh = await open(f.path, 'r');
  try {
    const magic = Buffer.alloc(4);
    const { bytesRead } = await fh.read(magic, 0, 4, 0);
    return bytesRead === 4 && magic.toString('latin1') === 'PAR1';
  } finally {
    await fh.close();
  }
}

/** What the training job needs of a fit, whichever path made it. */
export interface TrainingOutcome {
  readonly featureNames: readonly string[];
  readonly target: string;
  readonly fit: ElasticNetFit;
  /** Seconds in the solver (coordinate descent on the statistics). */
  readonly seconds: number;
  readonly trainMetrics: RegressionMetrics;
  readonly validationMetrics?: RegressionMetrics;
  readonly versions: ReadFileVersion[];
}

/** The chunk buffer: one Float64Array, `d` columns of {@link GRAM_CHUNK_ROWS} rows. */
function chunkColumns(d: number): { buffer: Float64Array; columns: Float64Array[] } {
  const buffer = new Float64Array(GRAM_CHUNK_ROWS * d);
  const columns = Array.from({ length: d }, (_, j) => buffer.subarray(j * GRAM_CHUNK_ROWS, (j + 1) * GRAM_CHUNK_ROWS));
  return { buffer, columns };
}

/**
 * Parses every file of a scanned channel into `columns` (the design columns by `names`, other columns
 * only counted) a chunk at a time, calling `onChunk(rows)` for each; returns the rows.
 */
async function streamColumns(
  scanned: ChannelHeads,
  names: readonly string[],
  columns: readonly Float64Array[],
  onChunk: (rows: number) => void,
): Promise<number> {
  let rows = 0;
  const sink = {
    capacity: GRAM_CHUNK_ROWS,
    flush: (m: number) => {
      onChunk(m);
      rows += m;
    },
  };
  for (const h of scanned.heads) {
    const dests = h.header.map((name) => {
      const j = names.indexOf(name);
      return j === -1 ? null : columns[j]!;
    });
    await parseInto(h, dests, 0, scanned.db, sink);
  }
  return rows;
}

async function channelBytes(files: readonly ChannelFile[]): Promise<number> {
  let total = 0;
  for (const f of files) total += (await stat(f.path)).size;
  return total;
}

export interface StreamOptions extends ReadChannelOptions {
  /**
   * Threads that parse the training channel's CSV (`gram-csv.ts`); the result does not depend on it.
   * @default min(4, available cores)
   */
  readonly threads?: number;
  /**
   * Bytes per range of a CSV file parsed by one thread (`gram-csv.ts`); tests set it small.
   * @default GRAM_RANGE_BYTES
   */
  readonly rangeBytes?: number;
  /**
   * A failing CSV channel up to this many bytes is read again whole to word the failure as `csv.ts`.
   * @default LEGACY_MESSAGE_MAX_BYTES
   */
  readonly legacyMessageMaxBytes?: number;
}

/** Runs `read`; on a CSV failure of a small channel, `legacy` words it (see the module comment). */
async function worded<T>(
  files: readonly ChannelFile[],
  options: StreamOptions,
  read: () => Promise<T>,
  legacy: () => Promise<unknown>,
): Promise<T> {
  const max = options.legacyMessageMaxBytes ?? LEGACY_MESSAGE_MAX_BYTES;
  const small = await channelBytes(files).then(
    (b) => b <= max,
    () => true,
  );
  return small ? withLegacyMessages(files, read, legacy) : read();
}

/**
 * Trains on the Gram path: the training channel streamed into statistics, the fit, the training
 * metrics from the spilled rows and the validation channel's from one streamed pass.
 *
 * @example
 * const t = await trainOnGram(trainFiles, validationFiles, hps, { hash: true });
 */
export async function trainOnGram(
  trainFiles: readonly ChannelFile[],
  validationFiles: readonly ChannelFile[] | undefined,
  hps: Pick<Hyperparameters, 'target' | 'alpha' | 'l1_ratio' | 'max_iter' | 'tol'>,
  options: StreamOptions,
): Promise<TrainingOutcome> {
  if (trainFiles.length === 0) throw new CsvError('no data: the channel holds no CSV file');
  const target = hps.target;
  const train = await worded(
    trainFiles,
    options,
    async () => {
      // Heads only: the parse hashes the CSV files while its workers parse them (gram-csv.ts).
      const scanned = await readHeads(trainFiles, { ...options, hash: false, csvHeadOnly: true });
      try {
        const featureNames = trainingFeatureNames(scanned.heads[0], target);
        const names = [...featureNames, target];
        checkSameColumns(scanned.heads, names);
        const parsed = await momentsOfChannel(scanned, trainFiles, names, GRAM_CHUNK_ROWS, {
          ...(options.hash === undefined ? {} : { hash: options.hash }),
          ...(options.threads === undefined ? {} : { threads: options.threads }),
          ...(options.rangeBytes === undefined ? {} : { rangeBytes: options.rangeBytes }),
          ...(options.parallelMinBytes === undefined ? {} : { parallelMinBytes: options.parallelMinBytes }),
        });
        try {
          const stats = gramStats(parsed.acc);
          const started = performance.now();
          const fit = fitElasticNetGram(stats, {
            alpha: hps.alpha,
            l1Ratio: hps.l1_ratio,
            maxIter: hps.max_iter,
            tol: hps.tol,
            featureNames,
          });
          const seconds = (performance.now() - started) / 1000;
          const metrics = new StreamingMetrics(fit.coef, fit.intercept, stats.yMean);
          const columns = parsed.columns;
          const score = (m: number) => metrics.add(columns.slice(0, featureNames.length), columns[featureNames.length]!, m);
          // Without a spill file (no writable TMPDIR, a full disk) the channel is parsed again.
          if (!parsed.replay(score)) await streamColumns(scanned, names, columns, score);
          return { featureNames, fit, seconds, trainMetrics: metrics.finish(), versions: parsed.versions };
        } finally {
          parsed.release();
        }
      } finally {
        scanned.db?.close();
      }
    },
    async () => toTrainingSet(await legacyTables(trainFiles), target),
  );
  let validationMetrics: RegressionMetrics | undefined;
  const versions = [...train.versions];
  if (validationFiles) {
    const v = await scoreChannel(validationFiles, train.featureNames, target, train.fit, options);
    validationMetrics = v.metrics;
    versions.push(...v.versions);
  }
  return {
    featureNames: train.featureNames,
    target,
    fit: train.fit,
    seconds: train.seconds,
    trainMetrics: train.trainMetrics,
    ...(validationMetrics ? { validationMetrics } : {}),
    versions,
  };
}

/**
 * Scores a model on a channel in one streamed pass: the model's columns by name, in any order, other
 * columns ignored (as `readDesignChannel`).
 *
 * @example
 * const { metrics } = await scoreChannel(files, ['a', 'b'], 'y', fit, {});
 */
export async function scoreChannel(
  files: readonly ChannelFile[],
  featureNames: readonly string[],
  target: string,
  fit: Pick<ElasticNetFit, 'coef' | 'intercept'>,
  options: StreamOptions,
): Promise<{ metrics: RegressionMetrics; versions: ReadFileVersion[] }> {
  if (files.length === 0) throw new CsvError('no data: the channel holds no CSV file');
  const names = [...featureNames, target];
  return worded(
    files,
    options,
    async () => {
      const scanned = await readHeads(files, options);
      try {
        checkSameColumns(scanned.heads, names);
        const { columns } = chunkColumns(names.length);
        const p = featureNames.length;
        const metrics = new StreamingMetrics(fit.coef, fit.intercept);
        const yMoments = new MomentAccumulator(1);
        await streamColumns(scanned, names, columns, (m) => {
          metrics.add(columns.slice(0, p), columns[p]!, m);
          yMoments.add([columns[p]!], m, [target]);
        });
        const y = yMoments.result();
        const sst = y.constant[0] ? 0 : y.moments.comoment[0]!;
        return { metrics: metrics.finish(sst), versions: scanned.versions };
      } finally {
        scanned.db?.close();
      }
    },
    async () => toDesign(await legacyTables(files, names), featureNames, target),
  );
}
