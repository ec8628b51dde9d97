// The Node floor: a plain `http` server that writes one SSE frame per subscriber per message.
// No auth, no storage, no ids, no heartbeats: what any Node SSE server costs at least.
// Same URLs as Herald: GET /events?channels=NAME, POST /publish {"channel"|"channels", "data"}.
import http from 'node:http';

const subscribers = new Map(); // channel -> Set<ServerResponse>

http
  .createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/events') {
      const name = url.searchParams.get('channels') ?? '';
      res.useChunkedEncodingByDefault = false; // as Herald: the stream is the whole response
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Cache-Control': 'no-cache',
        Connection: 'close',
      });
      res.socket?.setNoDelay(true);
      res.write(': ok\n\n');
      const set = subscribers.get(name) ?? new Set();
      subscribers.set(name, set.add(res));
      res.on('close', () => set.delete(res));
    } else if (req.method === 'POST' && url.pathname === '/publish') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const msg = JSON.parse(body);
        const frame = Buffer.from(`data: ${msg.data}\n\n`);
        for (const name of msg.channels ?? [msg.channel]) {
          for (const sub of subscribers.get(name) ?? []) sub.write(frame);
        }
        res.writeHead(202).end();
      });
    } else res.writeHead(url.pathname === '/healthz' ? 200 : 404).end();
  })
  .listen(Number(process.argv[2] ?? 8090), '127.0.0.1');

// Exit with the bench: it holds our stdin open.
process.stdin.on('end', () => process.exit(0)).resume();
