/**
 * Charts. {@link LineChart} wraps uPlot (canvas; time series such as metric histories and live
 * serving figures), sized to its container. {@link BarChart} is plain SVG (a handful of bars, one
 * per run or version, readable without a canvas). Both carry a text summary for screen readers and
 * `data-series` for tests.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Colours that keep 3:1 contrast against the page background, in series order. */
export const SERIES_COLOURS = ['#1f6feb', '#c2410c', '#15803d', '#7c3aed', '#b91c1c', '#0e7490', '#a16207'];

export interface LineSeries {
  readonly label: string;
  /** One value per x; null leaves a gap. */
  readonly values: readonly (number | null)[];
}

export interface LineChartProps {
  readonly title: string;
  /** The x values: epoch seconds when `time` (the default), else plain numbers (steps). */
  readonly x: readonly number[];
  readonly series: readonly LineSeries[];
  /** @default true */
  readonly time?: boolean;
  /** @default 180 */
  readonly height?: number;
  /** Formats y values on the axis and in the legend. */
  readonly unit?: string;
}

export function LineChart({ title, x, series, time = true, height = 180, unit }: LineChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const shape = `${time}|${series.map((s) => s.label).join('|')}|${unit ?? ''}`;

  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const fmt = (v: number | null) => (v === null || v === undefined ? '–' : `${+v.toPrecision(4)}${unit ? ` ${unit}` : ''}`);
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      scales: { x: { time } },
      legend: { live: true },
      series: [
        {},
        ...series.map((s, i) => ({ label: s.label, stroke: SERIES_COLOURS[i % SERIES_COLOURS.length], width: 2, value: (_u: uPlot, v: number | null) => fmt(v), points: { show: x.length < 40 } })),
      ],
      axes: [{}, { values: (_u: uPlot, vals: number[]) => vals.map((v) => `${+v.toPrecision(3)}`) }],
    };
    const u = new uPlot(opts, [x as number[], ...series.map((s) => s.values as number[])], el);
    plot.current = u;
    const observer = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      u.destroy();
      plot.current = undefined;
    };
  }, [shape, height]);

  useEffect(() => {
    plot.current?.setData([x as number[], ...series.map((s) => s.values as number[])]);
  }, [x, series]);

  const last = series.map((s) => `${s.label}: ${s.values.at(-1) ?? 'no data'}`).join(', ');
  return (
    <figure class="chart" data-series={series.length} data-points={x.length}>
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-canvas" role="img" aria-label={`${title}. ${x.length} points. Latest ${last}`} />
    </figure>
  );
}

export interface Bar {
  readonly label: string;
  readonly value: number;
}

export interface BarChartProps {
  readonly title: string;
  /** Groups of bars (e.g. one group per metric, one bar per run). */
  readonly bars: readonly Bar[];
  /** @default 28 */
  readonly barHeight?: number;
}

/** Horizontal bars, labelled with their values. */
export function BarChart({ title, bars, barHeight = 28 }: BarChartProps) {
  const max = Math.max(...bars.map((b) => Math.abs(b.value)), 1e-12);
  const labelWidth = 140;
  const width = 480;
  const h = bars.length * (barHeight + 6) + 6;
  return (
    <figure class="chart" data-series={bars.length}>
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${h}`} width="100%" role="img" aria-label={`${title}: ${bars.map((b) => `${b.label} ${b.value}`).join(', ')}`}>
        {bars.map((b, i) => {
          const y = 6 + i * (barHeight + 6);
          const w = ((width - labelWidth - 70) * Math.abs(b.value)) / max;
          return (
            <g key={b.label} class="bar" data-label={b.label} data-value={b.value}>
              <text x={labelWidth - 6} y={y + barHeight / 2} text-anchor="end" dominant-baseline="middle" class="bar-label">
                {b.label.length > 20 ? `${b.label.slice(0, 19)}…` : b.label}
              </text>
              <rect x={labelWidth} y={y} width={Math.max(w, 1)} height={barHeight} fill={SERIES_COLOURS[i % SERIES_COLOURS.length]} />
              <text x={labelWidth + w + 6} y={y + barHeight / 2} dominant-baseline="middle" class="bar-value">
                {+b.value.toPrecision(4)}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
