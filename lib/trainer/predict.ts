/**
 * Batch prediction with a model directory: read a CSV, match its columns to the model's features
 * by name, and write the input back with a `prediction` column appended.
 *
 * The output keeps every input line exactly as it was (column order, quoting, number formatting,
 * extra columns such as an id or the target itself) and adds the prediction as the last field,
 * with the input's separator. Keeping the input makes the output joinable and reviewable without a
 * second file; a caller who wants predictions only can cut the last column.
 *
 * @example
 * const model = await loadModelDir('model');
 * const csv = predictCsv(model, await readFile('new-wines.csv', 'utf8'), 'new-wines.csv');
 */
import { readFile } from 'node:fs/promises';
import { type LinearModel, loadModelDir } from '../model/format';
import { CsvError, listColumns, parseCsv, readCsvHeader } from './csv';

/** The name of the column predictions are written to. */
export const PREDICTION_COLUMN = 'prediction';

/**
 * Predicts every row of CSV text; returns the output CSV text (see the module comment).
 *
 * @example
 * predictCsv(model, 'a,b,id\n1,2,x\n', 'in.csv'); // 'a,b,id,prediction\n1,2,x,3.5\n'
 */
export function predictCsv(model: LinearModel, text: string, source: string): string {
  // Read the header first so a missing feature is reported as such, not as a parse error.
  const probe = readCsvHeader(text, source);
  const missing = model.features.filter((f) => !probe.includes(f));
  if (missing.length > 0) {
    throw new CsvError(
      `${source}: the model needs feature${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')}, ` +
        `which ${missing.length > 1 ? 'are' : 'is'} missing; columns are: ${listColumns(probe)}`,
    );
  }
  if (probe.includes(PREDICTION_COLUMN)) {
    throw new CsvError(
      `${source}: already has a "${PREDICTION_COLUMN}" column; remove it so the output has one prediction per row`,
    );
  }
  const table = parseCsv(text, { source, numericColumns: model.features, keepLines: true });
  const cols = model.features.map((f) => table.numeric.get(f)!);
  const w = model.coefficients;
  const sep = table.separator;
  const lines = table.lines!;
  const out: string[] = new Array(table.rows + 1);
  out[0] = `${lines.header}${sep}${PREDICTION_COLUMN}`;
  for (let i = 0; i < table.rows; i++) {
    let y = model.intercept;
    for (let j = 0; j < w.length; j++) y += w[j]! * cols[j]![i]!;
    out[i + 1] = `${lines.data[i]}${sep}${y}`;
  }
  return `${out.join('\n')}\n`;
}

/**
 * Loads a model directory and predicts a CSV file; returns the output CSV text.
 *
 * @example
 * process.stdout.write(await predictFile('model', 'new-wines.csv'));
 */
export async function predictFile(modelDir: string, inputPath: string): Promise<string> {
  const model = await loadModelDir(modelDir);
  let text: string;
  try {
    text = await readFile(inputPath, 'utf8');
  } catch (err) {
    throw new CsvError(`cannot read ${inputPath}: ${(err as Error).message}`);
  }
  return predictCsv(model, text, inputPath);
}
