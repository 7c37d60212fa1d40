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

/** Where the raw CSV lives in the raw bucket. */
export const WINE_RAW_PREFIX = 'datasets/winequality-red/';

/** The example data set's key in the raw bucket (what `mlops up` and `mlops seed` write). */
export const WINE_RAW_KEY = `${WINE_RAW_PREFIX}winequality-red.csv`;

/** The Glue table of the raw example data set, as uploaded. */
export const WINE_RAW_TABLE = 'winequality_red_raw';

/**
 * The labels table: one row per wine, `wine_id` being the 1-based data-row number of the bundled
 * CSV (the feature repo's `wine` entity), with the time the label was known. Stored in the raw
 * bucket as comma-separated CSV with a header row.
 */
export const WINE_LABELS_TABLE = 'wine_labels';
export const WINE_LABELS_PREFIX = 'datasets/wine-labels/';
export const WINE_LABELS_KEY = `${WINE_LABELS_PREFIX}wine-labels.csv`;
export const WINE_LABEL_COLUMNS = [
  { name: 'wine_id', type: 'bigint' },
  { name: 'event_timestamp', type: 'timestamp' },
  { name: WINE_TARGET, type: 'int' },
] as const;
