/** The file URL of a current bundle of bin/mlops.ts (the whole CLI), built if needed; undefined if it cannot be. */
export function cliBundle(): Promise<string | undefined>;
/** The file URL of a current bundle of bin/mlops-train.ts, built if needed; undefined if it cannot be. */
export function trainBundle(): Promise<string | undefined>;
/** Runs the bundle at `url` with the code cache of `command`; false, having run nothing, if the bundle cannot be read. */
export function runBundle(url: string, command: string | undefined): Promise<boolean>;
