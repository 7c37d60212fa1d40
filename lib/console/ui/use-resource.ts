/**
 * Loads data for a view, optionally polling while `poll` says to (a running execution, live
 * serving metrics). Stale answers of an earlier key are dropped.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Resource<T> {
  readonly data: T | undefined;
  readonly error: unknown;
  readonly loading: boolean;
  reload(): void;
}

export interface ResourceOptions<T> {
  /** Poll every this many ms while `while` holds (or always when it is absent). */
  readonly pollMs?: number;
  readonly while?: (data: T | undefined) => boolean;
}

export function useResource<T>(load: () => Promise<T>, key: readonly unknown[], options: ResourceOptions<T> = {}): Resource<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const generation = useRef(0);
  const latest = useRef<T | undefined>(undefined);
  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => {
        if (mine !== generation.current) return;
        latest.current = data;
        setState({ data, loading: false });
      },
      (error: unknown) => {
        if (mine !== generation.current) return;
        setState((s) => ({ data: s.data, error, loading: false }));
      },
    );
  }, key);

  useEffect(() => {
    latest.current = undefined;
    run();
    if (!options.pollMs) return undefined;
    const timer = setInterval(() => {
      if (!options.while || options.while(latest.current)) run();
    }, options.pollMs);
    return () => {
      clearInterval(timer);
      generation.current++;
    };
  }, [run]);

  return { data: state.data, error: state.error, loading: state.loading, reload: run };
}
