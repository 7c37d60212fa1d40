/** The file URL of a current bundle of bin/mlops.ts (the whole CLI), built if needed; undefined if it cannot be. */
export function cliBundle(): Promise<string | undefined>;
/** The file URL of a current bundle of bin/mlops-train.ts, built if needed; undefined if it cannot be. */
export function trainBundle(): Promise<string | undefined>;
