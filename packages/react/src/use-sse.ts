import type { HeraldEvent } from '@herald/client';
import { useRef, useState } from 'react';
import { useChannels } from './use-channel.js';
import { useHerald } from './use-herald.js';

export interface SseResult {
  /** Whether the app's connection is up (this tab's or, shared, another tab's). */
  readonly isConnected: boolean;
}

export interface UseSSEOptions {
  /** Seed 001's user id. The stream needs none (the token says who the user is). */
  clientId?: string;
  channels: readonly string[];
  onEvent?: (event: HeraldEvent) => void;
}

/**
 * Seed 001's `useSSE`: the events of several channels on the app's one connection, and the
 * last one. Seed 001's automatic reconnection and dynamic channels are the client's.
 */
export function useSSE(options: UseSSEOptions): SseResult & { lastEvent: HeraldEvent | null } {
  const [lastEvent, setLastEvent] = useState<HeraldEvent | null>(null);
  const onEvent = useRef(options.onEvent);
  onEvent.current = options.onEvent;
  useChannels(options.channels, (e) => {
    setLastEvent(e);
    onEvent.current?.(e);
  });
  return { isConnected: useHerald().status === 'connected', lastEvent };
}

/** The data of an event, as seed 001's hooks pass it. */
function useDataOf<T>(channel: string, onData: (data: T, event: HeraldEvent) => void): SseResult {
  const ref = useRef(onData);
  ref.current = onData;
  useChannels([channel], (e) => ref.current(e.data as T, e));
  return { isConnected: useHerald().status === 'connected' };
}

/** Seed 001's vote hook: every event of the `votes` channel (`vote_update` tallies). */
export function useVoteSSE<T = unknown>(
  _clientId: string,
  onData: (data: T, event: HeraldEvent) => void,
): SseResult {
  return useDataOf('votes', onData);
}

/** Seed 001's chat hook: every event of the `chat:lobby` channel (`chat_message`). */
export function useChatSSE<T = unknown>(
  _clientId: string,
  onData: (data: T, event: HeraldEvent) => void,
): SseResult {
  return useDataOf('chat:lobby', onData);
}

/** What `useAISSE` passes: the event's data with its `type`, and `content` (token or text). */
export type AIData = Record<string, unknown> & {
  type: 'ai_start' | 'ai_response' | 'ai_complete' | (string & {});
  content: string;
};

/**
 * Seed 001's AI hook: the token stream of the `ai:{clientId}` channel, each event as
 * `{ type, content, ... }` (`content` is the token of an `ai_response`, the whole text of an
 * `ai_complete`). For the text itself, with resume after a reload, use `useStreamingText`.
 */
export function useAISSE(
  clientId: string,
  onData: (data: AIData, event: HeraldEvent) => void,
): SseResult {
  return useDataOf(`ai:${clientId}`, (data: Record<string, unknown> | null, e) => {
    const d = data ?? {};
    const content = typeof d['token'] === 'string' ? d['token'] : d['text'];
    onData({ ...d, type: e.type, content: typeof content === 'string' ? content : '' }, e);
  });
}
