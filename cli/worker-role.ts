/**
 * The worker's half of a service process: the claim on the host, the sandbox, the compile cache and the
 * worker. Loaded by service.ts only when the process runs a worker, so that `runcell api` never loads the
 * sandbox (koffi, libseccomp).
 */
import { cacheDir, CompileCache } from '../worker/compile-cache.js';
import { readMarker, rootfsLocation, verifiedRootfs } from '../rootfs/build.js';
import { imagePath, readImage, recordInUse, releaseInUse } from '../rootfs/store.js';
import { ImageQuotaError } from '../queue/images.js';
import { createHash } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import type { ImageImporter } from '../api/images.js';
import type { RedisTarget } from '../queue/connection.js';
import { Sandbox } from '../sandbox/sandbox.js';
import { EgressNetwork } from '../sandbox/network.js';
import { claimDeployment } from '../sandbox/deployment.js';
import { SlotPool } from '../sandbox/slots.js';
import { RuncellWorker } from '../worker/worker.js';
import type { Config } from './config.js';
import type { Started } from './started.js';

export { verifiedRootfs };

/** Refuses a data dir, cgroup parent or uid range another live deployment of this host owns. */
export function claimHost(config: Config, started: Started): void {
  const result = claimDeployment({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, uidBase: config.uidBase, slots: config.slots });
  if (!result.ok) throw new Error(result.message);
  started.finals.push(async () => result.claim.release());
}

/**
 * The deployment's egress network when RUNCELL_NETWORK_EGRESS is not off, set up before the first job.
 * A worker that cannot set it up does not start (fail closed: the API would accept egress jobs it cannot run).
 */
async function egressNetwork(config: Config): Promise<EgressNetwork | undefined> {
  if (config.network.egress.allow === 'none') return undefined;
  const network = new EgressNetwork({
    dataDir: config.dataDir,
    subnet: config.network.subnet,
    upstreamDns: config.network.dns,
    rateBitsPerSecond: config.network.rateBits,
    maxConnections: config.network.maxConnections,
  });
  try {
    await network.ensure();
  } catch (error) {
    throw new Error(`RUNCELL_NETWORK_EGRESS is on, but the egress network cannot be set up: ${(error as Error).message}`);
  }
  return network;
}

/** A layered image this worker runs on is recorded as in use (`runcell image prune` keeps it while the worker lives). */
function recordImageInUse(config: Config): void {
  const { image } = rootfsLocation(config.dataDir, config.languages);
  if (image) recordInUse(config.dataDir, [image]);
}

export async function startWorker(config: Config, rootfs: string, redis: RedisTarget, started: Started, pools?: Record<string, number>): Promise<void> {
  const { logger, metrics } = started;
  const network = await egressNetwork(config);
  const sandbox = Sandbox.create({
    network,
    dataDir: config.dataDir,
    cgroupParent: config.cgroupParent,
    rootfs,
    cpuQuota: config.cpuQuota,
    onPhases: metrics && ((phases) => metrics.observeSandboxPhases(phases)),
  });
  const marker = readMarker(rootfs);
  recordImageInUse(config);
  started.finals.push(async () => releaseInUse(config.dataDir));
  const compileCache = new CompileCache({
    dir: cacheDir(config.dataDir),
    maxBytes: config.compileCache.bytes,
    ttlSeconds: config.compileCache.ttlSeconds,
    rootfsHash: marker.hash,
    versions: marker.languages,
    logger,
  });
  const worker = new RuncellWorker({
    redis,
    sandbox,
    slots: new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase }),
    concurrency: config.concurrency,
    pools,
    languages: marker.languages,
    compileCache,
    problemCacheBytes: config.problemCacheBytes,
    imageUnusedSeconds: config.images.unusedSeconds,
    limits: config.limits,
    retention: config.retention,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    lockDurationMs: config.lockDurationMs,
    stalledIntervalMs: Math.max(1000, Math.floor(config.lockDurationMs / 2)),
    logger,
    metrics,
  });
  await worker.start();
  started.stops.unshift(() => worker.close());
}

/**
 * POST /v1/images' importer: into this host's layer store, which this process's worker runs images from; the
 * archive's sha256 recorded, as the registry will hold it (the worker then knows its copy is current).
 */
export function imageImporter(dataDir: string): ImageImporter {
  const importer: ImageImporter = async (file, options) => {
    const { importImage } = await import('../rootfs/oci-import.js');
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    // Never over an image of the host's own (built, or imported by `runcell image import`): a client would swap it.
    const admit = async (name: string) => {
      const local = readImage(dataDir, name);
      if (local && !local.archive) throw new ImageQuotaError('name', `this host has an image of its own named ${name}`);
      await options.admit?.(name);
    };
    return importImage(dataDir, file, { ...options, admit, archive: hash.digest('hex') });
  };
  importer.forget = (name) => rmSync(imagePath(dataDir, name), { force: true });
  return importer;
}
