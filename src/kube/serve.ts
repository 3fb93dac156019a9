// The HTTP side shared by the controller and the agent: /healthz, /readyz and /metrics on a plain port.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** Why the process is not ready yet, or null when it is. */
  notReady: () => string | null;
}

export async function serveHealth(o: HealthOptions): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') { res.writeHead(405).end(); return; }
    if (path === '/healthz') { res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'); return; }
    if (path === '/readyz') {
      const why = o.notReady();
      res.writeHead(why ? 503 : 200, { 'content-type': 'text/plain' }).end(why ? `not ready: ${why}\n` : 'ok\n');
      return;
    }
    if (path === '/metrics') {
      o.registry.metrics().then((text) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(text), (e: Error) => res.writeHead(500).end(e.message));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(o.port, o.host ?? '0.0.0.0', () => resolve()); });
  return { server, port: (server.address() as AddressInfo).port };
}

export function closeServer(s: Server | null | undefined): Promise<void> {
  if (!s) return Promise.resolve();
  s.closeAllConnections();
  return new Promise((r) => s.close(() => r()));
}
