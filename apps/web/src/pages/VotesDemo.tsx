import { useHeraldApi, useUnreadCount, useVoteSSE, type Notification } from '@herald/react';
import { useState } from 'react';
import { useSession } from '../lib/session-context.js';

const CHANNEL = 'votes';
const OPTIONS = ['Server-Sent Events', 'WebSockets', 'Long polling'] as const;

/**
 * Seed 001's live vote. Each vote is a notification of the `votes` feed (category = the
 * option), so the tally is the feed's summary: exact, kept by the server, the same for a
 * browser that joins late, and live through the `summary` events every vote publishes.
 */
export function VotesDemo() {
  const api = useHeraldApi();
  const { session } = useSession();
  const { summary, status } = useUnreadCount({ channel: CHANNEL });
  const [recent, setRecent] = useState<string[]>([]);
  const [error, setError] = useState<string | null>(null);
  const { isConnected } = useVoteSSE<Notification>(session.userId, (n, e) => {
    if (e.type === 'vote_update') setRecent((r) => [`${n.title}: ${n.message}`, ...r].slice(0, 5));
  });
  const tally = summary?.unreadByCategory ?? {};
  const total = OPTIONS.reduce((s, o) => s + (tally[o] ?? 0), 0);
  const vote = (option: string) => {
    setError(null);
    api
      .post('/notifications', {
        channel: CHANNEL,
        type: 'vote_update',
        title: session.userId,
        message: option,
        category: option,
      })
      .catch((e: Error) => setError(e.message));
  };
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Live vote</h1>
          <p>Open this page in two browsers: every vote moves both tallies at once.</p>
        </div>
        <span className="spacer" />
        <span className="chip">{isConnected ? 'connected' : 'connecting…'}</span>
      </div>
      {error ? (
        <p className="error-box" role="alert">
          Your vote was not counted: {error}
        </p>
      ) : null}
      <section className="card pad stack" aria-label="Which transport do you reach for?">
        <h2>Which transport do you reach for first?</h2>
        {OPTIONS.map((o) => {
          const n = tally[o] ?? 0;
          const pct = total === 0 ? 0 : Math.round((n / total) * 100);
          return (
            <div key={o} className="vote-option" data-testid="vote-option" data-option={o}>
              <div className="row">
                <strong style={{ flex: 1 }}>{o}</strong>
                <span className="muted" data-testid="vote-count">
                  {n} {n === 1 ? 'vote' : 'votes'} · {pct}%
                </span>
                <button type="button" className="btn btn-small" onClick={() => vote(o)}>
                  Vote for {o}
                </button>
              </div>
              <div
                className="bar"
                role="meter"
                aria-label={`${o} share`}
                aria-valuemin={0}
                aria-valuemax={100}
                aria-valuenow={pct}
              >
                <span style={{ width: `${pct}%` }} />
              </div>
            </div>
          );
        })}
        <p className="muted small" data-testid="vote-total">
          {status === 'loading' ? 'Loading the tally…' : `${total} votes in all`}
        </p>
      </section>
      {recent.length > 0 ? (
        <section className="card pad stack" aria-label="Latest votes">
          <h2>Latest votes</h2>
          <ul className="check-list">
            {recent.map((r, i) => (
              <li key={`${i}:${r}`}>{r}</li>
            ))}
          </ul>
        </section>
      ) : null}
    </>
  );
}
