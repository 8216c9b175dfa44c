/**
 * The metrics endpoint of a process without the API (`runcell worker`):
 * a bare HTTP server answering GET /metrics, for Prometheus to scrape.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { RuncellMetrics } from './metrics.js';

export interface MetricsServerOptions {
  metrics: RuncellMetrics;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port; 0 = any free one. */
  port: number;
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

export async function serveMetrics(options: MetricsServerOptions): Promise<MetricsServer> {
  const { metrics } = options;
  const host = options.host ?? '127.0.0.1';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(path === '/metrics' ? 405 : 404, { 'Content-Type': 'text/plain' }).end('GET /metrics\n');
      return;
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'Content-Type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (error: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`cannot collect metrics: ${error.message}\n`),
    );
  });
  server.listen(options.port, host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    url: `http://${host === '0.0.0.0' ? 'localhost' : host.includes(':') ? `[${host}]` : host}:${port}/metrics`,
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
