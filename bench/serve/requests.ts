/** The prediction requests bench/serve/ab.ts and instructions.ts send: one wine row per route. */
export const ROW = [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4];
export const ROUTES: Record<string, { readonly path: string; readonly body: string }> = {
  seldon: { path: '/api/v1.0/predictions', body: JSON.stringify({ data: { ndarray: [ROW] } }) },
  oip: {
    path: '/v2/models/wine-quality/infer',
    body: JSON.stringify({ inputs: [{ name: 'input-0', shape: [1, 11], datatype: 'FP64', data: ROW }] }),
  },
};
