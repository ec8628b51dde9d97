import { useMemo } from 'react';
import { useHeraldContext } from './provider.js';
import { TokenStream, type StreamingTextState } from './token-stream.js';
import { useLiveStore, type LiveStore } from './use-live-store.js';

export type { StreamingStatus, StreamingTextState } from './token-stream.js';

export interface UseStreamingTextResult extends StreamingTextState {
  /** Asks the producer to stop (`POST /streams/{channel}/cancel`). */
  cancel(): Promise<void>;
}

const NONE: LiveStore<StreamingTextState> = {
  state: { status: 'idle', text: '', stream: null, tokens: 0 },
  subscribe: () => () => undefined,
  start: () => undefined,
  stop: () => undefined,
};

/**
 * A token-streamed answer on `channel` (`ai:{session}`), its text growing token by token;
 * after a reload mid-answer it starts from the text so far (`GET /streams/{channel}`) and
 * carries on without a gap or a repeat. `null` follows nothing.
 */
export function useStreamingText(channel: string | null): UseStreamingTextResult {
  const { client, api } = useHeraldContext();
  const store = useMemo(
    () => (channel ? new TokenStream(client, api, channel) : null),
    [client, api, channel],
  );
  const state = useLiveStore<StreamingTextState>(store ?? NONE);
  const cancel = useMemo(() => async () => store?.cancel(), [store]);
  return { ...state, cancel };
}
