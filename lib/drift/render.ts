/**
 * The drift report for people: a self-contained HTML page (inline CSS and SVG; no scripts, no
 * external resources, every text escaped) and the plain-text table `mlops drift` prints.
 */
import type { DriftHistogram, DriftReport, FeatureDrift } from './types';

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A number for people: up to 4 significant digits, exponent form when tiny. */
export function formatNumber(x: number | null): string {
  if (x === null) return '–';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '-∞';
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs < 1e-4 || abs >= 1e7) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

const verdictOf = (f: FeatureDrift) => (f.status === 'no-values' ? 'no values' : f.drifted ? 'DRIFT' : 'ok');

function ruleOf(f: FeatureDrift): string {
  if (f.scoreType === 'distance') return `≥ ${formatNumber(f.threshold)}`;
  return `${f.test === 'ks' ? '≤' : '<'} ${formatNumber(f.threshold)}`;
}

/** The CLI's per-feature table (fixed-width columns), with the dataset verdict under it. */
export function formatDriftTable(report: DriftReport): string {
  const header = ['feature', 'kind', 'test', 'statistic', 'p-value', 'drift when', 'verdict'];
  const rows = [...report.features, ...(report.prediction ? [report.prediction] : [])].map((f) => [
    f.name,
    f.kind,
    f.test ?? '–',
    formatNumber(f.statistic),
    f.pValue === null ? '–' : formatNumber(f.pValue),
    f.scoreType === 'p-value' ? `p ${ruleOf(f)}` : ruleOf(f),
    verdictOf(f),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [
    `${report.model} version ${report.modelVersion}, window ${report.window.start} – ${report.window.end}: ${report.dataset.rows} rows`,
    '',
  ];
  if (report.status === 'no-traffic') {
    out.push(report.summary);
    return out.join('\n') + '\n';
  }
  out.push(line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), '', report.summary);
  return out.join('\n') + '\n';
}

// --- HTML ---------------------------------------------------------------------------------------

const CHART_WIDTH = 360;
const CHART_HEIGHT = 120;
const REFERENCE_COLOUR = '#4c78a8';
const CURRENT_COLOUR = '#f58518';

interface Bar {
  readonly label: string;
  readonly reference: number;
  readonly current: number;
}

function barsOf(h: DriftHistogram): Bar[] {
  if (h.type === 'categories') {
    return h.values.map((v, i) => ({ label: formatNumber(v), reference: h.reference[i]!, current: h.current[i]! }));
  }
  const bars: Bar[] = [];
  if (h.currentBelow > 0) bars.push({ label: `< ${formatNumber(h.edges[0]!)}`, reference: 0, current: h.currentBelow });
  h.reference.forEach((r, i) =>
    bars.push({ label: `${formatNumber(h.edges[i]!)} – ${formatNumber(h.edges[i + 1]!)}`, reference: r, current: h.current[i]! }),
  );
  if (h.currentAbove > 0) bars.push({ label: `> ${formatNumber(h.edges.at(-1)!)}`, reference: 0, current: h.currentAbove });
  return bars;
}

/**
 * Reference and window as shares of their own totals (they differ in size by orders of
 * magnitude), side by side per bin; each bar carries a `<title>` with the bin and both counts.
 */
export function histogramSvg(h: DriftHistogram, name: string): string {
  const bars = barsOf(h);
  const refTotal = bars.reduce((s, b) => s + b.reference, 0) || 1;
  const curTotal = bars.reduce((s, b) => s + b.current, 0) || 1;
  const top = Math.max(...bars.map((b) => Math.max(b.reference / refTotal, b.current / curTotal)), 1e-12);
  const plotHeight = CHART_HEIGHT - 22;
  const slot = (CHART_WIDTH - 8) / Math.max(bars.length, 1);
  const barWidth = Math.max(slot / 2 - 1, 0.5);
  const parts: string[] = [];
  bars.forEach((b, i) => {
    const x = 4 + i * slot;
    const title = escapeHtml(`${b.label}: reference ${b.reference}, window ${b.current}`);
    for (const [k, share, colour] of [
      [0, b.reference / refTotal, REFERENCE_COLOUR],
      [1, b.current / curTotal, CURRENT_COLOUR],
    ] as const) {
      const height = (share / top) * plotHeight;
      parts.push(
        `<rect x="${(x + k * (barWidth + 1)).toFixed(2)}" y="${(4 + plotHeight - height).toFixed(2)}" width="${barWidth.toFixed(2)}" height="${height.toFixed(2)}" fill="${colour}"><title>${title}</title></rect>`,
      );
    }
  });
  // The axis ends: the outer edges (or categories) rather than whole bin labels, which collide.
  const [first, last] =
    h.type === 'categories'
      ? [bars[0]?.label ?? '', bars.at(-1)?.label ?? '']
      : [
          h.currentBelow > 0 ? bars[0]!.label : formatNumber(h.edges[0]!),
          h.currentAbove > 0 ? bars.at(-1)!.label : formatNumber(h.edges.at(-1)!),
        ];
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_WIDTH}" height="${CHART_HEIGHT}" viewBox="0 0 ${CHART_WIDTH} ${CHART_HEIGHT}" role="img" aria-label="${escapeHtml(`${name}: reference vs window`)}">` +
    `<line x1="4" y1="${4 + plotHeight}" x2="${CHART_WIDTH - 4}" y2="${4 + plotHeight}" stroke="#999"/>` +
    parts.join('') +
    `<text x="4" y="${CHART_HEIGHT - 4}" font-size="10" fill="#555">${escapeHtml(first)}</text>` +
    `<text x="${CHART_WIDTH - 4}" y="${CHART_HEIGHT - 4}" font-size="10" fill="#555" text-anchor="end">${escapeHtml(last)}</text>` +
    `</svg>`
  );
}

const STYLE = `
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;background:#fff}
h1{font-size:1.4rem;margin:0 0 .25rem}
.meta{color:#555;margin:0 0 1rem}
.summary{padding:.75rem 1rem;border-radius:6px;margin:0 0 1.5rem;font-weight:600}
.summary.drift{background:#fde2e1;color:#8a1c1c}.summary.ok{background:#e3f4e4;color:#1e5e23}.summary.none{background:#eef0f3;color:#333}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #e4e4e4;vertical-align:middle}
th{background:#f6f7f9;font-size:.85rem}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.verdict{font-weight:700}.verdict.drift{color:#b42318}.verdict.ok{color:#1e7b34}.verdict.none{color:#777}
.note{color:#666;font-size:.8rem}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;vertical-align:middle}
`;

/** The self-contained HTML report: header, verdict, and one row per feature with its chart. */
export function renderDriftHtml(report: DriftReport): string {
  const e = escapeHtml;
  const summaryClass = report.status === 'no-traffic' || report.dataset.driftShare === null ? 'none' : report.dataset.datasetDrift ? 'drift' : 'ok';
  const rows = [...report.features, ...(report.prediction ? [report.prediction] : [])].map((f) => {
    const verdict = verdictOf(f);
    const cls = f.status === 'no-values' ? 'none' : f.drifted ? 'drift' : 'ok';
    return (
      `<tr><td><strong>${e(f.name)}</strong>${f === report.prediction ? ' <span class="note">(model output)</span>' : ''}</td>` +
      `<td>${e(f.kind)}</td><td>${e(f.testName)}</td>` +
      `<td class="num">${e(formatNumber(f.statistic))}</td><td class="num">${e(f.pValue === null ? '–' : formatNumber(f.pValue))}</td>` +
      `<td class="num">${e(f.scoreType === 'p-value' ? `p ${ruleOf(f)}` : ruleOf(f))}</td>` +
      `<td class="verdict ${cls}">${e(verdict)}</td>` +
      `<td>${histogramSvg(f.histogram, f.name)}<div class="note">reference ${f.referenceCount} values, window ${f.currentCount}${f.note ? ` · ${e(f.note)}` : ''}</div></td></tr>`
    );
  });
  const d = report.dataset;
  const facts = [
    `window ${report.window.start} – ${report.window.end}`,
    `${d.rows} rows in window`,
    `reference ${report.referenceRows} rows`,
    d.driftShare === null ? null : `drifted share ${formatNumber(d.driftShare)} (dataset drift at ≥ ${formatNumber(d.driftShareThreshold)})`,
    d.predictionDrift === null ? null : `prediction ${d.predictionDrift ? 'drifted' : 'stable'}`,
    `generated ${report.generatedAt}`,
  ].filter((x): x is string => x !== null);
  const body =
    report.status === 'no-traffic'
      ? ''
      : `<p class="legend">Shares of each sample per bin:<span style="background:${REFERENCE_COLOUR}"></span>reference<span style="background:${CURRENT_COLOUR}"></span>window</p>` +
        `<table><thead><tr><th>feature</th><th>kind</th><th>test</th><th>statistic</th><th>p-value</th><th>drift when</th><th>verdict</th><th>reference vs window</th></tr></thead>` +
        `<tbody>${rows.join('\n')}</tbody></table>`;
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>${e(`Drift report: ${report.model} version ${report.modelVersion}`)}</title><style>${STYLE}</style></head><body>` +
    `<h1>${e(`Drift report: ${report.model}`)} <span class="note">version ${e(report.modelVersion)}</span></h1>` +
    `<p class="meta">${facts.map(e).join(' · ')}</p>` +
    `<p class="summary ${summaryClass}">${e(report.summary)}</p>` +
    body +
    `</body></html>\n`
  );
}
