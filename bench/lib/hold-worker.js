// Child process of the hold scenario: opens `count` Herald streams (users first..first+count-1)
// so that the bench's connections are spread over two processes' descriptor limits.
import { SignJWT } from 'jose';
import { SubscriberPool } from './subscribers.js';

let pool = null;

process.on('message', async (msg) => {
  if (msg.type === 'start') {
    const key = new TextEncoder().encode(msg.secret);
    const exp = Math.floor(Date.now() / 1000) + 4 * 3600;
    const tokens = [];
    for (let i = 0; i < msg.count; i++) {
      tokens.push(
        await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setSubject(String(msg.first + i))
          .setExpirationTime(exp)
          .sign(key),
      );
    }
    pool = new SubscriberPool(msg.port);
    // Subscriber indices continue after the parent's, so source addresses rotate the same way.
    const r = await pool.connect(
      msg.count,
      (i) => ({
        path: `/events?channels=user:${msg.first + i}`,
        headers: `Authorization: Bearer ${tokens[i]}\r\n`,
      }),
      { concurrency: msg.concurrency },
    );
    process.send?.({ type: 'connected', ok: r.ok, failed: r.failed, errors: pool.errors });
  } else if (msg.type === 'stop') {
    await pool?.closeAll();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
