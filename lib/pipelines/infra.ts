/**
 * Kept only for `stacks/serving-stack.ts` (helper `servingstack` rewrites it): the CDK helpers
 * that were here live in `lib/constructs` (`retries`, `lambda-step`, `athena-query`, `lake-table`,
 * `house-defaults`), the workflow concurrency rule in `lib/config/workflow`.
 */
export { workflowReservedConcurrency } from '../config/workflow';
