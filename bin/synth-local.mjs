/**
 * What `mlops up` runs to synthesize the local stage (lib/local/synth.ts): bin/synth-local.ts compiled
 * once and run by plain Node (bin/compiled.mjs: cached by a content hash of its sources, under
 * `<kit cache>/synth-local/`), without tsx's per-module transform.
 *
 *   node bin/synth-local.mjs .mlops/local/assembly   # `node --import tsx bin/synth-local.ts` is the same synthesis
 */
import { runCompiled } from './compiled.mjs';

await runCompiled('synth-local');
