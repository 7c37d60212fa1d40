/**
 * A data table: a caption for screen readers, column headers that sort on click or Enter (the
 * header is a button), and an empty state in place of an empty body.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { EmptyState } from './empty-state';

export interface Column<T> {
  readonly key: string;
  readonly header: ComponentChildren;
  readonly render?: (row: T) => ComponentChildren;
  /** The value sorted on; absent means the column does not sort. */
  readonly sortValue?: (row: T) => string | number | undefined;
  readonly numeric?: boolean;
}

export interface TableProps<T> {
  readonly caption: string;
  readonly columns: readonly Column<T>[];
  readonly rows: readonly T[];
  readonly rowKey: (row: T) => string;
  readonly empty?: ComponentChildren;
  /** @default the first sortable column, descending=false */
  readonly initialSort?: { key: string; descending?: boolean };
  readonly rowClass?: (row: T) => string | undefined;
}

export function Table<T>({ caption, columns, rows, rowKey, empty, initialSort, rowClass }: TableProps<T>) {
  const [sort, setSort] = useState<{ key: string; descending: boolean } | undefined>(
    initialSort ? { key: initialSort.key, descending: initialSort.descending ?? false } : undefined,
  );
  if (rows.length === 0) return <>{empty ?? <EmptyState title="Nothing here yet" />}</>;
  const column = columns.find((c) => c.key === sort?.key);
  const sorted = column?.sortValue
    ? [...rows].sort((a, b) => {
        const x = column.sortValue!(a);
        const y = column.sortValue!(b);
        const d = x === y ? 0 : x === undefined ? 1 : y === undefined ? -1 : x < y ? -1 : 1;
        return sort!.descending ? -d : d;
      })
    : rows;
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c) => {
              const active = sort?.key === c.key;
              const ariaSort = active ? (sort!.descending ? 'descending' : 'ascending') : undefined;
              return (
                <th key={c.key} scope="col" aria-sort={ariaSort} class={c.numeric ? 'num' : undefined}>
                  {c.sortValue ? (
                    <button
                      type="button"
                      class="sort"
                      onClick={() => setSort({ key: c.key, descending: active ? !sort!.descending : false })}
                    >
                      {c.header}
                      <span aria-hidden="true">{active ? (sort!.descending ? ' ▼' : ' ▲') : ''}</span>
                    </button>
                  ) : (
                    c.header
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {sorted.map((row) => (
            <tr key={rowKey(row)} class={rowClass?.(row)}>
              {columns.map((c) => (
                <td key={c.key} class={c.numeric ? 'num' : undefined}>
                  {c.render ? c.render(row) : String((row as Record<string, unknown>)[c.key] ?? '')}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
