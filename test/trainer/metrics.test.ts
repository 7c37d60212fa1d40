import { describe, expect, it } from 'vitest';
import { matrixMetrics, predictMatrix, regressionMetrics } from '../../lib/trainer/metrics';
import { generateLinearData } from '../../lib/trainer/synthetic';

describe('matrixMetrics', () => {
  it('gives the bits of regressionMetrics over predictMatrix, over several blocks and a zero coefficient', () => {
    // prepare: 2.5 blocks of rows
    const data = generateLinearData({ seed: 5, rows: 10_300, features: 4, noise: 2 });
    const coef = [0.5, 0, -1.25, 3.1];
    // act
    const fused = matrixMetrics(data.X, data.y, coef, 0.7);
    // assess
    expect(fused).toEqual(regressionMetrics(data.y, predictMatrix(data.X, coef, 0.7)));
    expect(fused.rows).toBe(10_300);
  });

  it('follows scikit-learn for a constant target and fails on unequal lengths', () => {
    const X = { rows: 3, cols: 1, data: Float64Array.from([1, 2, 3]) };
    expect(matrixMetrics(X, [4, 4, 4], [0], 4).r2).toBe(1);
    expect(matrixMetrics(X, [4, 4, 4], [1], 0).r2).toBe(0);
    expect(() => matrixMetrics(X, [1, 2], [1], 0)).toThrow(/equally long/);
  });
});
