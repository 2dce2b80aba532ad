import { createServer } from 'node:net';

/**
 * A TCP port that was free a moment ago, chosen below the ephemeral range (32768+): a port
 * handed out by the kernel for `listen(0)` or as an outgoing connection's source could be taken
 * again by another process between our check and the agent's bind.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const server = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    }
  }
  throw new Error('no free port found below the ephemeral range');
}
