/**
 * Where a Judge0 callback may go: never to this host, the operator's private
 * networks, link-local addresses (169.254.169.254 is the cloud's metadata
 * service), multicast or unspecified addresses, unless the operator allows it
 * (RUNCELL_JUDGE0_CALLBACK_PRIVATE). Checked on the resolved address, which
 * the request is then sent to (callbacks.ts): no second lookup to rebind.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

const V4_RANGES: [string, number, string][] = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private (RFC 1918)'],
  ['100.64.0.0', 10, 'carrier-grade NAT (RFC 6598)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local (cloud metadata)'],
  ['172.16.0.0', 12, 'private (RFC 1918)'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.168.0.0', 16, 'private (RFC 1918)'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved or broadcast'],
];
const V6_RANGES: [string, number, string][] = [
  ['::', 96, 'unspecified, loopback or IPv4-compatible'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['fc00::', 7, 'unique local (private)'],
  ['ff00::', 8, 'multicast'],
];

function blockList(ranges: [string, number, string][], type: 'ipv4' | 'ipv6'): [BlockList, string][] {
  return ranges.map(([network, prefix, why]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, type);
    return [list, why];
  });
}
const V4 = blockList(V4_RANGES, 'ipv4');
const V6 = blockList(V6_RANGES, 'ipv6');

/** The eight 16-bit words of an IPv6 address (a dotted IPv4 tail included). */
function ipv6Words(address: string): number[] {
  let text = address.toLowerCase().split('%')[0];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = text.slice(0, -dotted[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((w) => parseInt(w, 16)) : []);
  const [left, right] = [parse(head), parse(tail)];
  return tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/** The IPv4 address an IPv6 one carries (IPv4-mapped ::ffff:a.b.c.d, or NAT64 64:ff9b::a.b.c.d), if any. */
function embeddedIPv4(address: string): string | undefined {
  const w = ipv6Words(address);
  const mapped = w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff;
  const nat64 = w[0] === 0x64 && w[1] === 0xff9b && w.slice(2, 6).every((x) => x === 0);
  if (!mapped && !nat64) return undefined;
  return [w[6] >> 8, w[6] & 0xff, w[7] >> 8, w[7] & 0xff].join('.');
}

/** Why a callback may not be sent to this IP address (without the operator's setting), or undefined when it may. */
export function forbiddenAddress(address: string): string | undefined {
  if (isIPv4(address)) return V4.find(([list]) => list.check(address, 'ipv4'))?.[1];
  if (!isIPv6(address)) return 'not an IP address';
  const v4 = embeddedIPv4(address);
  if (v4 !== undefined) return forbiddenAddress(v4);
  const plain = address.split('%')[0];
  return V6.find(([list]) => list.check(plain, 'ipv6'))?.[1];
}

/** A callback_url's problem at submission: not http(s), or a literal address that is forbidden. */
export function callbackUrlProblem(raw: string, allowPrivate: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const why = allowPrivate ? undefined : isIPv4(host) || isIPv6(host) ? forbiddenAddress(host) : undefined;
  return why ? `is not allowed: ${host} is ${why}` : undefined;
}
