/**
 * The machine-limit servers, run as a child process like the registries: a trivial node:http
 * server (`GET /small` answers `{}`, `GET /blob` answers an in-memory blob) for the request
 * rate and HTTP receive limits of the benchmark's own client, and a raw TCP sender for the
 * loopback limit (the client writes an 8-byte big-endian count, the server sends that many
 * bytes, and the connection stays open for the next count).
 *
 * Usage: node trivial-server.js <http port> <blob bytes> [tcp port]
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';

const httpPort = Number(process.argv[2]);
const blobBytes = Number(process.argv[3] ?? 0);
const tcpPort = process.argv[4] === undefined ? undefined : Number(process.argv[4]);

const small = Buffer.from('{}');
const blob = Buffer.alloc(blobBytes, 0x5a);

createHttpServer({ keepAlive: true, noDelay: true }, (req, res) => {
  if (req.url === '/blob') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': blob.length });
    res.end(blob);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': small.length });
  res.end(small);
}).listen(httpPort, '127.0.0.1');

const CHUNK = Buffer.alloc(4 * 1024 * 1024, 0xa5);

async function send(socket: Socket, count: number): Promise<void> {
  let left = count;
  while (left > 0) {
    const n = Math.min(left, CHUNK.length);
    left -= n;
    if (!socket.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
      await new Promise<void>((resolve) => socket.once('drain', resolve));
    }
  }
}

if (tcpPort !== undefined) {
  createTcpServer({ noDelay: true }, (socket) => {
    let pending = Buffer.alloc(0);
    let busy = Promise.resolve();
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 8) {
        const count = Number(pending.readBigUInt64BE(0));
        pending = pending.subarray(8);
        busy = busy.then(() => send(socket, count));
      }
    });
  }).listen(tcpPort, '127.0.0.1');
}
