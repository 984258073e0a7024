import { describeError } from "../api/client";

/** An API error as a sentence, announced to screen readers. Never a blank screen. */
export function ErrorMessage({ error, what }: { error: unknown; what?: string }) {
  return (
    <div role="alert" className="error-message">
      {what ? <strong>{what}: </strong> : null}
      {describeError(error)}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}
