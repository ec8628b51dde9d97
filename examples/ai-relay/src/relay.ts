import type { HeraldPublisher, StreamResult } from '@herald/client/node';

/** Where the answers come from: any OpenAI-compatible chat endpoint (operator config only). */
export interface Upstream {
  /** Base URL, e.g. `https://api.openai.com/v1`; `/chat/completions` is appended. */
  readonly url: string;
  readonly apiKey: string;
  readonly model: string;
  readonly fetch?: typeof fetch;
}

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/**
 * Asks the upstream for a streamed completion and relays every content delta into the
 * Herald stream channel `channel` (`ai:{session}`) as one token. A reader's cancel aborts
 * the upstream request, so generation stops there too; an upstream failure ends the answer
 * with reason `error`.
 */
export async function relay(
  upstream: Upstream,
  publisher: HeraldPublisher,
  channel: string,
  messages: readonly ChatMessage[],
): Promise<StreamResult> {
  const writer = publisher.stream(channel, { meta: { model: upstream.model } });
  const abort = new AbortController();
  writer.cancelled.addEventListener('abort', () => abort.abort());
  try {
    const res = await (upstream.fetch ?? fetch)(`${upstream.url}/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${upstream.apiKey}`,
        accept: 'text/event-stream',
      },
      body: JSON.stringify({ model: upstream.model, messages, stream: true }),
      signal: abort.signal,
    });
    if (!res.ok || !res.body) throw new Error(`upstream answered ${res.status}`);
    for await (const token of contentDeltas(res.body)) {
      if (!writer.write(token)) break; // cancelled
    }
    return await writer.end();
  } catch {
    if (writer.cancelled.aborted) return writer.end();
    return writer.end('error');
  }
}

/**
 * The `choices[0].delta.content` of each `data:` line of an OpenAI-style SSE answer, until
 * `data: [DONE]`.
 */
export async function* contentDeltas(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const lines = (rest + decoder.decode(value, { stream: true })).split(/\r?\n/);
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('data:')) continue;
      const data = line.slice(5).trim();
      if (data === '[DONE]') return;
      const chunk = JSON.parse(data) as { choices?: { delta?: { content?: unknown } }[] };
      const content = chunk.choices?.[0]?.delta?.content;
      if (typeof content === 'string' && content !== '') yield content;
    }
  }
}
