/**
 * Adversarial suite, the network (docs/threats.md line 25): real targets on the
 * host, real programs trying to reach them. Afterwards the counting listener
 * has seen no connection and the redis-server no client but the test's own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, TestRedis, waitFor, type TestApi } from '../service-helpers.js';
import { runProgramAttack, type AttackContext } from './attack.js';
import { NETWORK_ATTACKS } from './attacks/network.js';

const context: AttackContext = { abstractSocket: `runcell-attack-${randomBytes(6).toString('hex')}` };
const queueRedis = new TestRedis();
let api: TestApi;
let listener: Server;
let abstract: Server;
let redisServer: ChildProcess;
let connections = 0;

async function listen(server: Server, ...args: unknown[]): Promise<void> {
  (server.listen as (...a: unknown[]) => void)(...args);
  await once(server, 'listening');
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await listen(probe, 0, '127.0.0.1');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function redisConnectionsReceived(): Promise<number> {
  // No retries: a client left retrying would connect later and spoil the count.
  const client = new Redis({ port: context.redisPort, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const info = await client.info('stats');
    return Number(/total_connections_received:(\d+)/.exec(info)![1]);
  } finally {
    client.disconnect();
  }
}

let redisConnectionsBefore = 0;

beforeAll(async () => {
  listener = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await listen(listener, 0, '::');
  context.listenerPort = (listener.address() as AddressInfo).port;
  abstract = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await listen(abstract, `\0${context.abstractSocket}`);
  context.hostAddresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address.split('%')[0]));

  context.redisPort = await freePort();
  redisServer = spawn('redis-server', ['--port', String(context.redisPort), '--bind', '127.0.0.1 ::1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitFor(async () => redisConnectionsReceived().then(() => true, () => false), 10_000, 'redis-server');
  redisConnectionsBefore = await redisConnectionsReceived();

  await queueRedis.start();
  api = await startApi(queueRedis.url);
  context.apiPort = Number(new URL(api.url).port);
});

afterAll(async () => {
  await api?.close();
  await queueRedis.destroy();
  redisServer?.kill('SIGTERM');
  listener?.close();
  abstract?.close();
});

describe('the network', () => {
  for (const attack of NETWORK_ATTACKS) {
    it(`${attack.id}: ${attack.does}`, async () => {
      await runProgramAttack(attack, context);
    });
  }

  it('after all of them: no connection reached the listener, the abstract socket or redis-server', async () => {
    expect(connections).toBe(0);
    // Each of our own INFO calls is one connection: the one before, and this one.
    expect(await redisConnectionsReceived()).toBe(redisConnectionsBefore + 1);
    // The targets were live all along: the host itself reaches them.
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  });
});
