/** Requests share their connection's abort signal (src/http/connection-signal.ts). */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { connectionController } from '../../src/http/connection-signal.js';

/** A loopback connection: the server's side and the client's. */
async function connectionPair(): Promise<{ server: Socket; client: Socket; close(): void }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const address = listener.address();
  assert.ok(address !== null && typeof address === 'object');
  const accepted = once(listener, 'connection');
  const client = connect(address.port, '127.0.0.1');
  const [server] = (await accepted) as [Socket];
  return {
    server,
    client,
    close() {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}

describe('connection abort signal', () => {
  it('is one controller per connection, live until the connection closes, then aborted', async () => {
    const first = await connectionPair();
    const second = await connectionPair();
    try {
      const controller = connectionController(first.server);
      assert.equal(connectionController(first.server), controller, 'a second request on the connection');
      assert.notEqual(connectionController(second.server), controller, 'another connection');
      assert.equal(controller.signal.aborted, false);

      const aborted = once(controller.signal, 'abort');
      first.client.destroy();
      await aborted;
      assert.equal(controller.signal.aborted, true);
      assert.match(String(controller.signal.reason), /client closed the connection/);
      assert.equal(connectionController(second.server).signal.aborted, false, 'the other connection is untouched');
    } finally {
      first.close();
      second.close();
    }
  });
});
