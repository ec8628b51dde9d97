import { createServer } from 'node:http';
import { HeraldPublisher } from '@herald/client/node';
import { relay, type ChatMessage } from './relay.js';

/**
 * A tiny relay service: `POST /ask {"channel":"ai:…","messages":[…]}` answers 202 at once and
 * relays the upstream's streamed answer into that Herald stream channel. Configuration comes
 * from the environment only (the upstream URL is never taken from a request).
 */
const env = (name: string, def?: string): string => {
  const v = process.env[name] ?? def;
  if (v === undefined) throw new Error(`set ${name}`);
  return v;
};
const upstream = {
  url: env('AI_RELAY_UPSTREAM_URL'),
  apiKey: env('AI_RELAY_UPSTREAM_KEY'),
  model: env('AI_RELAY_MODEL', 'gpt-4o-mini'),
};
const publisher = new HeraldPublisher({ url: env('HERALD_URL'), apiKey: env('HERALD_API_KEY') });

createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/ask') return void res.writeHead(404).end();
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString('utf8')));
  req.on('end', () => {
    const { channel, messages } = JSON.parse(body) as {
      channel: string;
      messages: ChatMessage[];
    };
    relay(upstream, publisher, channel, messages).catch((err: unknown) => console.error(err));
    res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
  });
}).listen(Number(env('AI_RELAY_PORT', '8090')));
