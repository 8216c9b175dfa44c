/**
 * REDIS_URL forms: single server, TLS, unix socket, Sentinel, Cluster.
 * (Connections to a real server are exercised by the service tests; real Sentinel and Cluster failovers
 * by test/fleet-sentinel.test.ts and test/fleet-cluster.test.ts.)
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors/index.js';
import { isRedisUnavailable, parseRedisUrl } from '../queue/connection.js';

/** The error a real connection attempt fails with. */
async function connectError(options: { port: number; host: string } | { path: string }): Promise<Error> {
  const socket = netConnect(options as never);
  const [error] = (await once(socket, 'error').catch((e: unknown) => [e])) as [Error];
  socket.destroy();
  return error;
}

describe('REDIS_URL', () => {
  it('redis:// with password and database', () => {
    expect(parseRedisUrl('redis://:s3cret@redis.internal:6380/2')).toMatchObject({
      kind: 'single',
      options: { host: 'redis.internal', port: 6380, password: 's3cret', db: 2 },
    });
  });

  it('rediss:// turns TLS on', () => {
    expect(parseRedisUrl('rediss://cache:6379').options.tls).toEqual({});
  });

  it('unix:// is a socket path', () => {
    expect(parseRedisUrl('unix:///var/lib/runcell/redis/redis.sock')).toEqual({ kind: 'single', options: { path: '/var/lib/runcell/redis/redis.sock' } });
  });

  it('redis-sentinel:// lists sentinels and the master name', () => {
    expect(parseRedisUrl('redis-sentinel://:pw@s1:26379,s2:26380/jobs')).toMatchObject({
      kind: 'sentinel',
      sentinelName: 'jobs',
      nodes: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }],
      options: { password: 'pw' },
    });
  });

  it('redis-cluster:// lists the seed nodes', () => {
    expect(parseRedisUrl('redis-cluster://n1:7000,n2:7001')).toMatchObject({ kind: 'cluster', nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }] });
  });

  it('refuses other schemes with a clear message', () => {
    expect(() => parseRedisUrl('http://localhost:6379')).toThrow(/unsupported scheme http:/);
  });

  it('tells "Redis is away" from other errors by class and code, not by message', async () => {
    // Port 1 on loopback: nothing listens there.
    expect(isRedisUnavailable(await connectError({ host: '127.0.0.1', port: 1 }))).toBe(true);
    // A unix socket that is not there: ENOENT from connect() is Redis's absence...
    expect(isRedisUnavailable(await connectError({ path: '/nonexistent/redis.sock' }))).toBe(true);
    // ...but ENOENT from anything else is not (the old message regex took any ENOENT for it).
    expect(isRedisUnavailable(await readFile('/nonexistent/file').catch((e: unknown) => e))).toBe(false);
    expect(isRedisUnavailable(new MaxRetriesPerRequestError(1))).toBe(true);
    expect(isRedisUnavailable(new TypeError('cannot connect: ECONNREFUSED in the message only'))).toBe(false);
  });

  it('the replies of a failover count as "away": a demoted master (READONLY), a cluster moving a slot', () => {
    const reply = (message: string) => Object.assign(new Error(message), { name: 'ReplyError' });
    expect(isRedisUnavailable(reply("READONLY You can't write against a read only replica."))).toBe(true);
    expect(isRedisUnavailable(reply('CLUSTERDOWN The cluster is down'))).toBe(true);
    expect(isRedisUnavailable(reply('TRYAGAIN Multiple keys request during rehashing of slot'))).toBe(true);
    expect(isRedisUnavailable(reply('ERR unknown command'))).toBe(false);
  });
});
