/**
 * The policy of opt-in network egress, as data: the address ranges a job may
 * never reach, and the nftables ruleset that enforces it for one deployment's
 * bridge. Pure functions (no kernel): network.ts loads the ruleset,
 * docs/security.md lists the ranges (checked by test/network.test.ts).
 */

/** IPv4 destinations dropped for every job packet that is routed (forwarded) from the bridge. */
export const BLOCKED_IPV4: readonly { range: string; why: string }[] = [
  { range: '0.0.0.0/8', why: '"this network": some stacks treat it as the host itself' },
  { range: '10.0.0.0/8', why: 'RFC 1918 private network (the operator\'s own services)' },
  { range: '100.64.0.0/10', why: 'RFC 6598 carrier-grade NAT: provider-internal services' },
  { range: '127.0.0.0/8', why: 'loopback of the host (its API, Redis, every local daemon)' },
  { range: '169.254.0.0/16', why: 'link-local, with the cloud metadata service at 169.254.169.254' },
  { range: '172.16.0.0/12', why: 'RFC 1918 private network' },
  { range: '192.0.0.0/24', why: 'IETF protocol assignments (provider-internal)' },
  { range: '192.168.0.0/16', why: 'RFC 1918 private network' },
  { range: '198.18.0.0/15', why: 'benchmarking networks, used internally by some providers' },
  { range: '224.0.0.0/4', why: 'multicast' },
  { range: '240.0.0.0/4', why: 'reserved, and the limited broadcast 255.255.255.255' },
];

export interface EgressRulesInput {
  /** nftables table name (inet family), one per deployment. */
  table: string;
  bridge: string;
  /** The jobs' subnet in CIDR form, e.g. 10.213.0.0/16. */
  subnet: string;
  /** The bridge's own address: the jobs' gateway and resolver. */
  gateway: string;
  /** New connections (conntrack entries) one job may have open at once. */
  maxConnections: number;
}

/**
 * The whole table, to load with `nft -f -` in one transaction (it deletes
 * the previous version of the table first, so a reload never leaves a mix).
 *
 * - input: from the bridge, only DNS to the gateway reaches the host; every
 *   other host address and port (the API's, Redis's, sshd's...) is dropped,
 *   IPv6 included (inet family).
 * - forward: nothing new enters the bridge (so no job reaches another job,
 *   nor anyone a job); from the bridge, IPv6, spoofed sources and the
 *   blocked ranges are dropped, and a job's new connections are capped.
 * - postrouting: what leaves for elsewhere is masqueraded to the host's address.
 *
 * Refused packets get an ICMP "administratively prohibited" (so a job's
 * client fails at once instead of waiting out its timeout); only packets with
 * a spoofed source are silently dropped.
 */
export function egressRuleset(input: EgressRulesInput): string {
  const { table, bridge, subnet, gateway, maxConnections } = input;
  const br = JSON.stringify(bridge);
  const blocked = BLOCKED_IPV4.map((b) => b.range).join(', ');
  return `table inet ${table} {}
delete table inet ${table}
table inet ${table} {
  set blocked4 {
    type ipv4_addr; flags interval;
    elements = { ${blocked} }
  }
  set connections {
    type ipv4_addr; size 65535; flags dynamic;
  }
  chain input {
    type filter hook input priority filter - 10; policy accept;
    iifname ${br} ip saddr ${subnet} ip daddr ${gateway} udp dport 53 accept
    iifname ${br} ip saddr ${subnet} ip daddr ${gateway} tcp dport 53 accept
    iifname ${br} counter reject with icmpx type admin-prohibited
  }
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    oifname ${br} ct state established,related accept
    oifname ${br} counter reject with icmpx type admin-prohibited
    iifname ${br} meta nfproto ipv6 counter reject with icmpx type admin-prohibited
    iifname ${br} ip saddr != ${subnet} counter drop
    iifname ${br} ip daddr @blocked4 counter reject with icmpx type admin-prohibited
    iifname ${br} ct state new add @connections { ip saddr ct count over ${maxConnections} } counter reject with icmpx type admin-prohibited
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${subnet} oifname != ${br} masquerade
  }
}
`;
}

/** Parses "a.b.c.d/n" into its network number and prefix length; throws on anything else. */
export function parseSubnet(cidr: string): { network: number; prefix: number } {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!match) throw new Error(`${JSON.stringify(cidr)} is not an IPv4 subnet (a.b.c.d/n)`);
  const octets = match.slice(1, 5).map(Number);
  const prefix = Number(match[5]);
  if (octets.some((o) => o > 255) || prefix < 8 || prefix > 28) throw new Error(`${JSON.stringify(cidr)}: octets 0-255 and a prefix from /8 to /28`);
  const address = octets.reduce((n, o) => n * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  if (address % size !== 0) throw new Error(`${JSON.stringify(cidr)} has host bits set`);
  return { network: address, prefix };
}

export function formatIpv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

/** The gateway (first address) and the address of slot `slot` (from the second on) in `cidr`. */
export function subnetAddresses(cidr: string, slot: number): { gateway: string; job: string; prefix: number } {
  const { network, prefix } = parseSubnet(cidr);
  const size = 2 ** (32 - prefix);
  // network, gateway, jobs..., broadcast.
  if (slot + 3 > size) throw new Error(`slot ${slot} does not fit in ${cidr} (${size - 3} job addresses): give RUNCELL_NETWORK_SUBNET a larger subnet`);
  return { gateway: formatIpv4(network + 1), job: formatIpv4(network + 2 + slot), prefix };
}
