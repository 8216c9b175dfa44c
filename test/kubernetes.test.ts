/**
 * deploy/kubernetes/*.yaml against the Kubernetes API's schemas (the npm package
 * kubernetes-models: the OpenAPI schemas of Kubernetes, compiled to validators),
 * and the settings the manifests must agree on with runcell's configuration.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment, DaemonSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../cli/config.js';

const dir = join(import.meta.dirname, '..', 'deploy', 'kubernetes');
const models = { 'apps/v1/Deployment': Deployment, 'apps/v1/DaemonSet': DaemonSet, 'v1/ConfigMap': ConfigMap, 'v1/Namespace': Namespace, 'v1/Service': Service };
type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: any; data?: Record<string, string> };

const manifests: { file: string; doc: Manifest }[] = readdirSync(dir)
  .filter((file) => file.endsWith('.yaml'))
  .flatMap((file) => parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((doc) => ({ file, doc: doc.toJS() as Manifest })));

function validate(doc: Manifest): void {
  const Model = models[`${doc.apiVersion}/${doc.kind}` as keyof typeof models];
  if (!Model) throw new Error(`no schema known for ${doc.apiVersion} ${doc.kind}`);
  new Model(doc as never).validate();
}

const find = (kind: string, name: string) => manifests.find(({ doc }) => doc.kind === kind && doc.metadata.name === name)!.doc;

describe('Kubernetes manifests', () => {
  it.each(manifests.map(({ file, doc }) => [`${file}: ${doc.kind} ${doc.metadata.name}`, doc] as const))('%s validates against the API schema', (_name, doc) => {
    expect(() => validate(doc)).not.toThrow();
  });

  it('the validation catches a mistake (a wrong type where the schema wants a number)', () => {
    const broken = structuredClone(find('Deployment', 'runcell-api'));
    broken.spec.replicas = 'two';
    expect(() => validate(broken)).toThrow(/replicas/);
    const noContainers = structuredClone(find('DaemonSet', 'runcell-worker'));
    delete noContainers.spec.template.spec.containers;
    expect(() => validate(noContainers)).toThrow(/containers/);
  });

  it('every object is in the runcell namespace, the API and workers are the ones deployed, with what each needs', () => {
    for (const { doc } of manifests) if (doc.kind !== 'Namespace') expect(doc.metadata.namespace).toBe('runcell');
    const api = find('Deployment', 'runcell-api').spec.template.spec;
    expect(api.containers[0].securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(api.securityContext.runAsNonRoot).toBe(true);
    const worker = find('DaemonSet', 'runcell-worker').spec.template;
    expect(worker.spec.containers[0].securityContext.privileged).toBe(true);
    expect(worker.metadata.annotations['prometheus.io/scrape']).toBe('true');
  });

  it('the ConfigMap holds settings runcell accepts, and the scrape annotations name the ports it serves', () => {
    const settings = find('ConfigMap', 'runcell').data!;
    const config = loadConfig(settings);
    expect(config.redisUrl).toBe('redis://redis.runcell.svc:6379');
    expect(find('Deployment', 'runcell-api').spec.template.metadata.annotations['prometheus.io/port']).toBe(String(config.port));
    expect(find('DaemonSet', 'runcell-worker').spec.template.metadata.annotations['prometheus.io/port']).toBe(String(config.metricsPort));
    expect(find('Service', 'redis').spec.ports[0].port).toBe(6379);
  });
});
