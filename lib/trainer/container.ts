/**
 * The trainer image's entry point. SageMaker starts a training container as `docker run <image>
 * train`; the image's exec-form ENTRYPOINT runs this file (bundled by esbuild into one
 * self-contained `.mjs`) with `train` as its argument, which it ignores; it follows the contract in
 * `contract.ts` and exits 0 or 1.
 *
 * @example
 * // in the image: /nodejs/bin/node /opt/ml/code/train.mjs train
 * // locally:      SM_CHANNEL_TRAIN=data SM_MODEL_DIR=model SM_HPS='{"target":"quality"}' npx tsx lib/trainer/container.ts
 */
import { main } from './main';

process.exitCode = await main(process.env);
