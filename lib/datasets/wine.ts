/**
 * The example data set: UCI red-wine quality (see README.md beside this file for provenance).
 * The lake stores it as uploaded (`;`-separated CSV with a quoted header); Glue and Athena see
 * the columns under snake_case names, which is how every later stage (features, training,
 * serving) names them.
 */
import { fileURLToPath } from 'node:url';

/** Absolute path of the bundled CSV. */
export const WINE_CSV_PATH = fileURLToPath(new URL('./winequality-red.csv', import.meta.url));

/** Columns in file order: the header as written, and the catalog name. */
export const WINE_COLUMNS = [
  { header: 'fixed acidity', name: 'fixed_acidity', type: 'double' },
  { header: 'volatile acidity', name: 'volatile_acidity', type: 'double' },
  { header: 'citric acid', name: 'citric_acid', type: 'double' },
  { header: 'residual sugar', name: 'residual_sugar', type: 'double' },
  { header: 'chlorides', name: 'chlorides', type: 'double' },
  { header: 'free sulfur dioxide', name: 'free_sulfur_dioxide', type: 'double' },
  { header: 'total sulfur dioxide', name: 'total_sulfur_dioxide', type: 'double' },
  { header: 'density', name: 'density', type: 'double' },
  { header: 'pH', name: 'ph', type: 'double' },
  { header: 'sulphates', name: 'sulphates', type: 'double' },
  { header: 'alcohol', name: 'alcohol', type: 'double' },
  { header: 'quality', name: 'quality', type: 'int' },
] as const;

export const WINE_TARGET = 'quality';
export const WINE_FEATURES = WINE_COLUMNS.filter((c) => c.name !== WINE_TARGET).map((c) => c.name);

/** Where the raw CSV lives in the raw bucket, and the curated Parquet in the curated bucket. */
export const WINE_RAW_PREFIX = 'datasets/winequality-red/';
export const WINE_CURATED_PREFIX = 'datasets/winequality-red/';
