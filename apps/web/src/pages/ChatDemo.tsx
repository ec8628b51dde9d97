import { useChatSSE, useHeraldApi, type Notification } from '@herald/react';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { clock } from '../lib/format.js';
import { useSession } from '../lib/session-context.js';

const CHANNEL = 'chat:lobby';
const HISTORY = 50;

function merge(list: readonly Notification[], more: readonly Notification[]): Notification[] {
  const byId = new Map(list.map((m) => [m.id, m]));
  for (const m of more) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/**
 * Seed 001's chat. Messages are notifications of the `chat:lobby` feed (live type
 * `chat_message`): a browser that joins gets the last 50 from the feed, then every new one
 * live. The history is read again whenever the connection comes up, and merged by id, so a
 * message sent while the stream was (re)opening is not lost.
 */
export function ChatDemo() {
  const api = useHeraldApi();
  const { session } = useSession();
  const [messages, setMessages] = useState<Notification[]>([]);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const logRef = useRef<HTMLDivElement>(null);
  const { isConnected } = useChatSSE<Notification>(session.userId, (m, e) => {
    if (e.type === 'chat_message') setMessages((l) => merge(l, [m]));
  });

  useEffect(() => {
    if (!isConnected) return;
    let live = true;
    api
      .get<{ notifications: Notification[] }>('/notifications', {
        channel: CHANNEL,
        limit: HISTORY,
        archived: 'any',
      })
      .then(
        (r) => live && setMessages((l) => merge(l, r.notifications)),
        (e: Error) => live && setError(e.message),
      );
    return () => {
      live = false;
    };
  }, [api, isConnected]);

  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages]);

  const send = (e: FormEvent) => {
    e.preventDefault();
    const message = text.trim();
    if (!message) return;
    setText('');
    setError(null);
    api
      .post('/notifications', {
        channel: CHANNEL,
        type: 'chat_message',
        title: session.userId,
        message,
        category: 'chat',
      })
      .catch((err: Error) => setError(err.message));
  };

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Chat</h1>
          <p>The lobby: history when you join, every message live.</p>
        </div>
        <span className="spacer" />
        <span className="chip">{isConnected ? 'connected' : 'connecting…'}</span>
      </div>
      {error ? (
        <p className="error-box" role="alert">
          {error}
        </p>
      ) : null}
      <section className="card" aria-label="Lobby">
        <div
          className="chat-log"
          ref={logRef}
          role="log"
          aria-label="Messages"
          aria-live="polite"
          data-testid="chat-log"
        >
          {messages.length === 0 ? <p className="empty">No messages yet. Say hello.</p> : null}
          {messages.map((m) => (
            <div
              key={m.id}
              className="msg"
              data-mine={m.title === session.userId}
              data-testid="chat-message"
            >
              <div className="msg-from">
                {m.title} · <time dateTime={m.createdAt}>{clock(m.createdAt)}</time>
              </div>
              {m.message}
            </div>
          ))}
        </div>
        <form className="chat-form" onSubmit={send}>
          <label className="sr-only" htmlFor="chat-input">
            Message
          </label>
          <input
            id="chat-input"
            className="input"
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder="Write a message"
            maxLength={2000}
            autoComplete="off"
          />
          <button type="submit" className="btn btn-primary" disabled={!text.trim()}>
            Send
          </button>
        </form>
      </section>
    </>
  );
}
