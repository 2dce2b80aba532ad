import { createServer, type Server } from 'node:http';
import type { ServedMetrics } from './metrics.js';

export interface HealthSource {
  /** null while healthy, else why not. */
  problem(): Promise<string | null>;
}

export async function startHealthServer(
  port: number,
  health: HealthSource,
  metrics: ServedMetrics,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/health') {
      health.problem().then(
        (problem) => {
          res.writeHead(problem ? 503 : 200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(problem ? { status: 'unhealthy', reason: problem } : { status: 'ok' }));
        },
        (err: unknown) => {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ status: 'unhealthy', reason: String(err) }));
        },
      );
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  const address = server.address();
  return {
    server,
    port: typeof address === 'object' && address ? address.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
