import { useHerald } from '@herald/react';

const LABEL = {
  connected: 'Live',
  polling: 'Polling',
  connecting: 'Connecting…',
  reconnecting: 'Reconnecting…',
  disconnected: 'Offline',
  closed: 'Closed',
} as const;

/**
 * The connection, everywhere in the header: live (streaming), polling (the kill switch or a
 * proxy that buffers), reconnecting or offline, with the reason code the client gives.
 */
export function ConnectionStatus() {
  const herald = useHerald();
  const state =
    herald.status === 'connected' && herald.transport === 'poll' ? 'polling' : herald.status;
  const reason = state === 'connected' ? null : herald.reason;
  const via = herald.status === 'connected' ? ` over ${herald.transport}` : '';
  return (
    <span
      className="status"
      role="status"
      data-testid="connection-status"
      data-state={state}
      title={reason ? reason.message : `${LABEL[state]}${via}`}
    >
      <span className="status-dot" aria-hidden="true" />
      <span>{LABEL[state]}</span>
      {reason ? <span className="status-reason">{reason.code}</span> : null}
    </span>
  );
}
