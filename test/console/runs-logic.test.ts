/** The runs table's columns and sort, metric history series and the run comparison, as data. */
import { describe, expect, it } from 'vitest';
import type { Run } from '../../lib/console/api/mlflow-types';
import { cellValue, columnId, comparison, historySeries, orderByFor, runColumns } from '../../lib/console/logic/runs';

const run = (id: string, name: string | undefined, metrics: Record<string, number>, params: Record<string, string>): Run => ({
  info: { run_id: id, ...(name && { run_name: name }), experiment_id: '1', status: 'FINISHED', start_time: 1000, end_time: 3500, lifecycle_stage: 'active' },
  data: {
    metrics: Object.entries(metrics).map(([key, value]) => ({ key, value, timestamp: 1, step: 0 })),
    params: Object.entries(params).map(([key, value]) => ({ key, value })),
  },
});

const a = run('aaaaaaaa11', 'first', { rmse: 0.7, r2: 0.3 }, { alpha: '0.1', l1_ratio: '0.5' });
const b = run('bbbbbbbb22', 'second', { rmse: 0.65, mae: 0.5 }, { alpha: '0.2', l1_ratio: '0.5' });

describe('runColumns', () => {
  it('lists attributes, then the union of metric keys, then param keys, each sorted', () => {
    expect(runColumns([a, b]).map(columnId)).toEqual([
      'attribute:run_name', 'attribute:status', 'attribute:start_time', 'attribute:duration',
      'metric:mae', 'metric:r2', 'metric:rmse',
      'param:alpha', 'param:l1_ratio',
    ]);
  });

  it('has only the attributes for no runs', () => {
    expect(runColumns([]).every((c) => c.kind === 'attribute')).toBe(true);
  });
});

describe('cellValue', () => {
  const cols = Object.fromEntries(runColumns([a, b]).map((c) => [columnId(c), c]));
  it('reads metrics as numbers, params as strings, blanks as undefined', () => {
    expect(cellValue(a, cols['metric:rmse']!)).toBe(0.7);
    expect(cellValue(a, cols['metric:mae']!)).toBeUndefined();
    expect(cellValue(b, cols['param:alpha']!)).toBe('0.2');
  });
  it('derives the duration and falls back to the run id for a nameless run', () => {
    expect(cellValue(a, cols['attribute:duration']!)).toBe(2500);
    expect(cellValue(run('cccc', undefined, {}, {}), cols['attribute:run_name']!)).toBe('cccc');
  });
});

describe('orderByFor', () => {
  it.each([
    [{ column: 'metric:rmse', descending: false }, ['metrics.`rmse` ASC']],
    [{ column: 'param:alpha', descending: true }, ['params.`alpha` DESC']],
    [{ column: 'metric:weird`key', descending: true }, ['metrics.`weirdkey` DESC']],
    [{ column: 'attribute:start_time', descending: true }, ['attributes.start_time DESC']],
    [{ column: 'attribute:duration', descending: true }, undefined],
  ])('%o → %o', (sort, expected) => {
    expect(orderByFor(sort)).toEqual(expected);
  });
  it('asks for nothing without a sort', () => expect(orderByFor(undefined)).toBeUndefined());
});

describe('historySeries', () => {
  it('plots by step, sorted, when every point has its own step', () => {
    expect(
      historySeries([
        { key: 'loss', value: 0.5, step: 2, timestamp: 3 },
        { key: 'loss', value: 0.9, step: 0, timestamp: 1 },
        { key: 'loss', value: 0.7, step: 1, timestamp: 2 },
      ]),
    ).toEqual({ x: [0, 1, 2], y: [0.9, 0.7, 0.5], xLabel: 'step' });
  });
  it('plots by log order when steps repeat (uPlot needs increasing x)', () => {
    expect(
      historySeries([
        { key: 'rmse', value: 0.8, step: 0, timestamp: 2 },
        { key: 'rmse', value: 0.9, step: 0, timestamp: 1 },
      ]),
    ).toEqual({ x: [0, 1], y: [0.9, 0.8], xLabel: 'index' });
  });
});

describe('comparison', () => {
  it('makes one bar group per metric with a bar per run that has it, and params side by side', () => {
    const c = comparison([a, b]);
    expect(c.runs).toEqual([{ id: a.info.run_id, label: 'first' }, { id: b.info.run_id, label: 'second' }]);
    expect(c.metrics).toEqual([
      { key: 'mae', bars: [{ label: 'second', value: 0.5 }] },
      { key: 'r2', bars: [{ label: 'first', value: 0.3 }] },
      { key: 'rmse', bars: [{ label: 'first', value: 0.7 }, { label: 'second', value: 0.65 }] },
    ]);
    expect(c.params).toEqual([
      { key: 'alpha', values: ['0.1', '0.2'], differs: true },
      { key: 'l1_ratio', values: ['0.5', '0.5'], differs: false },
    ]);
  });
  it('tells runs with the same name apart by a short id', () => {
    const c = comparison([run('111111aa', 'same', { x: 1 }, {}), run('222222bb', 'same', { x: 2 }, {})]);
    expect(c.runs.map((r) => r.label)).toEqual(['same (111111)', 'same (222222)']);
  });
});
