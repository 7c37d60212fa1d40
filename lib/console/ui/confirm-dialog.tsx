/**
 * A modal confirmation (`<dialog>` with `showModal`, so focus is trapped and Escape cancels) for
 * actions that change the platform: a stage transition, an alias, starting an execution.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export interface ConfirmDialogProps {
  readonly open: boolean;
  readonly title: string;
  readonly children?: ComponentChildren;
  /** @default 'Confirm' */
  readonly confirmLabel?: string;
  readonly onConfirm: () => void;
  readonly onCancel: () => void;
}

export function ConfirmDialog({ open, title, children, confirmLabel = 'Confirm', onConfirm, onCancel }: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} class="confirm" aria-labelledby="confirm-title" onCancel={(e) => { e.preventDefault(); onCancel(); }}>
      <h2 id="confirm-title">{title}</h2>
      <div class="confirm-body">{children}</div>
      <div class="confirm-actions">
        <button type="button" onClick={onCancel}>Cancel</button>
        <button type="button" class="primary" onClick={onConfirm}>{confirmLabel}</button>
      </div>
    </dialog>
  );
}
