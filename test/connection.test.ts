/**
 * REDIS_URL forms: single server, TLS, unix socket, Sentinel, Cluster.
 * (Connections to a real server are exercised by the service tests.)
 */
import { describe, expect, it } from 'vitest';
import { isRedisUnavailable, parseRedisUrl } from '../queue/connection.js';

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

  it('tells "Redis is away" from other errors', () => {
    expect(isRedisUnavailable(new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toBe(true);
    expect(isRedisUnavailable(Object.assign(new Error('x'), { name: 'MaxRetriesPerRequestError' }))).toBe(true);
    expect(isRedisUnavailable(new TypeError('cannot read properties of undefined'))).toBe(false);
  });
});
