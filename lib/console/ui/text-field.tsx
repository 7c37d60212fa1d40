/**
 * A labelled text input with its error sentence tied to it (`aria-invalid`, `aria-describedby`,
 * announced as an alert), as the forms of the Experiments, Models and Features pages show a
 * value the platform (or the page, before sending) refuses.
 */
import type { ComponentChildren } from 'preact';

export interface TextFieldProps {
  readonly id: string;
  readonly label: ComponentChildren;
  readonly value: string;
  readonly onInput: (value: string) => void;
  /** What is wrong with the value; shown under the field. @default - no error */
  readonly error?: ComponentChildren;
  readonly placeholder?: string;
}

export function TextField({ id, label, value, onInput, error, placeholder }: TextFieldProps) {
  const errorId = `${id}-error`;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        value={value}
        placeholder={placeholder}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={error ? errorId : undefined}
        onInput={(e) => onInput((e.target as HTMLInputElement).value)}
      />
      {error ? (
        <p id={errorId} class="field-error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
