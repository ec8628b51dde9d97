import { useHeraldApi, useStreamingText } from '@herald/react';
import { useState, type FormEvent } from 'react';
import { useSession } from '../lib/session-context.js';

/** The shared session: every browser on this page follows the same answer. */
const CHANNEL = 'ai:lobby';

const STATUS_TEXT = {
  idle: 'No answer yet',
  streaming: 'Answering…',
  complete: 'Done',
  cancelled: 'Stopped',
  error: 'Failed',
} as const;

/**
 * Seed 001's AI answer, token by token (`useStreamingText`): a stop button, and a reload
 * mid-answer picks up the text so far and carries on. In dev mode the server's `/dev/ai`
 * produces the answer; elsewhere your own producer publishes the same events.
 */
export function AiDemo() {
  const api = useHeraldApi();
  const { dev } = useSession();
  const answer = useStreamingText(CHANNEL);
  const [prompt, setPrompt] = useState('How does Herald resume a stream?');
  const [error, setError] = useState<string | null>(null);
  const streaming = answer.status === 'streaming';
  const ask = (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    api
      .post('/dev/ai', { channel: CHANNEL, prompt: prompt.trim() })
      .catch((err: Error) => setError(err.message));
  };
  return (
    <>
      <div className="page-head">
        <div>
          <h1>AI answer</h1>
          <p>
            Tokens stream on <code>{CHANNEL}</code>; open it in two browsers, reload mid-answer.
          </p>
        </div>
      </div>
      {!dev ? (
        <p className="note-box">
          This server is not in dev mode, so it has no demo producer. Publish <code>ai_start</code>,{' '}
          <code>ai_response</code> and <code>ai_complete</code> on <code>{CHANNEL}</code> from your
          own service to see them here.
        </p>
      ) : null}
      {error ? (
        <p className="error-box" role="alert">
          {error}
        </p>
      ) : null}
      <form className="card pad stack" onSubmit={ask} aria-label="Ask">
        <label className="field">
          <span>Prompt</span>
          <input
            className="input"
            value={prompt}
            onChange={(e) => setPrompt(e.target.value)}
            maxLength={2000}
            required
          />
        </label>
        <div className="row">
          <button type="submit" className="btn btn-primary" disabled={!dev || !prompt.trim()}>
            Ask
          </button>
          <button
            type="button"
            className="btn btn-danger"
            disabled={!streaming}
            onClick={() => void answer.cancel()}
          >
            Stop
          </button>
          <span className="spacer" />
          <span className="chip" role="status" data-testid="ai-status" data-status={answer.status}>
            {STATUS_TEXT[answer.status]} · {answer.tokens} tokens
          </span>
        </div>
      </form>
      <section className="card" aria-label="Answer">
        <div className="answer" data-status={answer.status} data-testid="ai-answer">
          {answer.text || <span className="muted">The answer appears here as it is written.</span>}
        </div>
      </section>
    </>
  );
}
