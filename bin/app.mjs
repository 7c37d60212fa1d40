/**
 * What `cdk synth` runs (cdk.json): the CDK app of bin/app.ts, compiled once into one ES module and
 * run by plain Node (bin/compiled.mjs: cached by a content hash of its sources, under
 * `<kit cache>/app/`).
 *
 *   node --enable-source-maps bin/app.mjs   # what cdk.json runs; `node --import tsx bin/app.ts` is the same app
 */
import { runCompiled } from './compiled.mjs';

await runCompiled('app');
