import { StringDecoder } from 'node:string_decoder';
import { HeraldError } from '../errors.js';
import { channelName } from './publish-input.js';
import { type EndReason, isStreamChannel } from '../streams/stream-channel.js';

/** One line of a `POST /streams/{channel}` body (docs/streams.md). */
export type StreamLine =
  { readonly meta: unknown } | { readonly tokens: readonly string[] } | { readonly end: EndReason };

/** The `{channel}` of a `/streams/{channel}` route: a valid stream channel, else 400. */
export function streamChannelOf(value: unknown): string {
  const channel = channelName(value);
  if (!isStreamChannel(channel)) throw new HeraldError('HERALD_ERR_NOT_STREAM_CHANNEL');
  return channel;
}

function badLine(detail: string): HeraldError {
  return new HeraldError('HERALD_ERR_STREAM_BAD_LINE', detail);
}

/** Parses one non-empty line; throws HERALD_ERR_STREAM_BAD_LINE. */
export function parseStreamLine(line: string): StreamLine {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw badLine('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badLine('not an object');
  const o = v as Record<string, unknown>;
  if (typeof o['token'] === 'string') return { tokens: [o['token']] };
  const tokens = o['tokens'];
  if (Array.isArray(tokens)) {
    if (!tokens.every((t) => typeof t === 'string')) throw badLine('"tokens" must be strings');
    return { tokens: tokens };
  }
  if ('end' in o) {
    const end = o['end'] === true ? 'done' : o['end'];
    if (end !== 'done' && end !== 'error') throw badLine('"end" is "done" or "error"');
    return { end };
  }
  if ('meta' in o) return { meta: o['meta'] };
  throw badLine('expected "token", "tokens", "end" or "meta"');
}

/**
 * The lines of an NDJSON body, in batches: every complete line of each chunk that arrives,
 * so a producer that sends fast gets many tokens per buffer write and per publish. Empty
 * lines are skipped; a line longer than `maxLine` bytes is refused.
 */
export async function* lineBatches(
  body: AsyncIterable<Buffer | string>,
  maxLine: number,
): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of body) {
    rest += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    if (rest.length > maxLine) throw badLine(`a line is longer than ${maxLine} bytes`);
    const out = lines.filter((l) => l.trim() !== '');
    if (out.length > 0) yield out;
  }
  rest += decoder.end();
  if (rest.trim() !== '') yield [rest];
}
