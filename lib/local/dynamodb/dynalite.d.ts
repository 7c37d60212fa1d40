// dynalite ships no types; this is the slice of its API the engine uses (see its index.js).
declare module 'dynalite' {
  import type { Server } from 'node:http';

  interface DynaliteOptions {
    /** LevelDB directory; in-memory when omitted. */
    path?: string;
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    maxItemSizeKb?: number;
    verbose?: boolean;
    debug?: boolean;
  }

  /** An http.Server whose `close` also closes the LevelDB handle. */
  function dynalite(options?: DynaliteOptions): Server;
  export default dynalite;
}
