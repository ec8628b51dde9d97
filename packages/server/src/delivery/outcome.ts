/** What one try of a delivery came to; the outbox turns it into the job's next state. */
export type SendOutcome =
  | { readonly kind: 'sent' }
  /** Try again later (a refusal that may pass: 4xx SMTP, 429, 5xx, a timeout). */
  | { readonly kind: 'retry'; readonly reason: string }
  /** Trying again cannot help (a 4xx answer, a refused address). */
  | { readonly kind: 'failed'; readonly reason: string }
  /** The target no longer exists (push 404/410): it is removed. */
  | { readonly kind: 'gone'; readonly reason: string };

/** The outcome of an HTTP answer from a webhook receiver or a push service. */
export function httpOutcome(status: number, what: string): SendOutcome {
  if (status >= 200 && status < 300) return { kind: 'sent' };
  const reason = `${what} answered ${status}`;
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    return { kind: 'retry', reason };
  }
  return { kind: 'failed', reason };
}
