/**
 * Seeded synthetic regression data: a known linear signal plus Gaussian noise. The tests regenerate
 * the exact data a scikit-learn fixture was computed on, and the benchmark builds its large data set
 * from it, so the generator must give the same numbers on every machine and Node version: it uses
 * only integer PRNG arithmetic and `Math.log`/`Math.sqrt`/`Math.cos`, and the CSV text carries
 * shortest round-trip decimals so a reader gets the same doubles back.
 *
 * @example
 * const data = generateLinearData({ seed: 42, rows: 500, features: 8 });
 * await writeFile('synthetic.csv', linearDataToCsv(data));
 */
import type { ColumnMatrix } from './elasticnet';

/**
 * mulberry32: a 32-bit PRNG (Tommy Ettinger, public domain) with a full 2³² period, plenty for
 * test data, and tiny enough to be reproduced exactly anywhere.
 *
 * @example
 * const next = mulberry32(1);
 * next(); // a number in [0, 1)
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LinearDataOptions {
  readonly seed: number;
  readonly rows: number;
  readonly features: number;
  /**
   * Standard deviation of the Gaussian noise added to the target.
   * @default 0.5
   */
  readonly noise?: number;
  /**
   * Correlation of each feature with the previous one (before scaling), in [0, 1). Correlated
   * features make coordinate descent need more epochs, as real data does.
   * @default 0
   */
  readonly correlation?: number;
}

export interface LinearData {
  /** `x0`, `x1`, …, then the target `y`. */
  readonly featureNames: readonly string[];
  readonly target: string;
  readonly X: ColumnMatrix;
  readonly y: Float64Array;
  /** The true coefficients: every third one is 0, so the L1 penalty has something to find. */
  readonly coef: Float64Array;
  readonly intercept: number;
}

/**
 * Generates `rows` samples of `features` Gaussian features with different scales and offsets, and
 * y = intercept + X·coef + noise.
 *
 * @example
 * const { X, y, coef } = generateLinearData({ seed: 7, rows: 1000, features: 20 });
 */
export function generateLinearData(options: LinearDataOptions): LinearData {
  const { seed, rows, features } = options;
  const noise = options.noise ?? 0.5;
  const correlation = options.correlation ?? 0;
  if (!(Number.isInteger(rows) && rows >= 1 && Number.isInteger(features) && features >= 1)) {
    throw new Error(`rows and features must be integers ≥ 1, but ${rows} and ${features} were provided`);
  }
  if (!(correlation >= 0 && correlation < 1)) {
    throw new Error(`correlation must be in [0, 1), but ${correlation} was provided`);
  }
  const rand = mulberry32(seed);
  // Box–Muller; 1 − u keeps the logarithm's argument in (0, 1].
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const coef = new Float64Array(features);
  for (let j = 0; j < features; j++) coef[j] = j % 3 === 2 ? 0 : Math.round((rand() * 4 - 2) * 100) / 100;
  const intercept = 3;
  const data = new Float64Array(rows * features);
  const y = new Float64Array(rows);
  // Standard-normal draws of the previous column, for the correlated case.
  let previous = new Float64Array(correlation !== 0 ? rows : 0);
  const keep = Math.sqrt(1 - correlation * correlation);
  for (let j = 0; j < features; j++) {
    const scale = 0.5 + (j % 4);
    const offset = j % 5;
    const o = j * rows;
    if (correlation === 0 || j === 0) {
      // Kept exactly as it was before `correlation` existed, so existing fixtures stay valid.
      for (let i = 0; i < rows; i++) {
        const z = gauss();
        if (correlation !== 0) previous[i] = z;
        data[o + i] = offset + scale * z;
      }
    } else {
      const current = new Float64Array(rows);
      for (let i = 0; i < rows; i++) {
        const z = keep * gauss() + correlation * previous[i]!;
        current[i] = z;
        data[o + i] = offset + scale * z;
      }
      previous = current;
    }
  }
  for (let i = 0; i < rows; i++) {
    let v = intercept + noise * gauss();
    for (let j = 0; j < features; j++) v += coef[j]! * data[j * rows + i]!;
    y[i] = v;
  }
  const featureNames = Array.from({ length: features }, (_, j) => `x${j}`);
  return { featureNames, target: 'y', X: { rows, cols: features, data }, y, coef, intercept };
}

/**
 * Renders the data as `,`-separated CSV with a header, features first and the target last.
 *
 * @example
 * linearDataToCsv(generateLinearData({ seed: 1, rows: 2, features: 1 })); // 'x0,y\n…\n…\n'
 */
export function linearDataToCsv(data: LinearData): string {
  const { rows, cols } = data.X;
  const lines: string[] = [[...data.featureNames, data.target].join(',')];
  const cells: string[] = new Array(cols + 1);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) cells[j] = String(data.X.data[j * rows + i]);
    cells[cols] = String(data.y[i]);
    lines.push(cells.join(','));
  }
  return lines.join('\n') + '\n';
}
