/**
 * The servers of the egress tests' fake world, run inside a test-made network namespace
 * (`ip netns exec NS node fake-servers.mjs MODE ADDRESS...`), never on the host's network:
 * - internet: HTTP on the first address (/ says hello, /bytes?n=N sends N bytes, /upload counts
 *   what it is sent, /hold keeps the connection open), and a DNS server on the second answering *.example.test.
 * - private: HTTP on every address, saying which one it is (the fake private services).
 * Prints "ready" once everything listens; exits when its stdin closes (the test ended).
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';

const [mode, ...addresses] = process.argv.slice(2);
const holds = new Set();

function http(address, handler) {
  return new Promise((resolve, reject) => createServer(handler).once('error', reject).listen(80, address, resolve));
}

function internetHttp(req, res) {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/bytes') {
    const n = Number(url.searchParams.get('n') ?? 0);
    res.writeHead(200, { 'content-length': n });
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let left = n;
    const pump = () => {
      while (left > 0) {
        const part = chunk.subarray(0, Math.min(left, chunk.length));
        left -= part.length;
        if (!res.write(part)) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  if (url.pathname === '/upload') {
    let received = 0;
    req.on('data', (chunk) => (received += chunk.length));
    req.on('end', () => res.end(`${received}\n`));
    return;
  }
  if (url.pathname === '/hold') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('held\n');
    holds.add(res);
    return;
  }
  res.end('hello from the fake internet\n');
}

/** A names -> address table: A records only; AAAA and unknown types get an empty answer, unknown names NXDOMAIN. */
const NAMES = { 'www.example.test': '198.51.100.10', 'private.example.test': '10.99.0.10', 'metadata.example.test': '169.254.169.254' };

function dnsAnswer(query) {
  let offset = 12;
  const labels = [];
  while (query[offset] !== 0) {
    labels.push(query.subarray(offset + 1, offset + 1 + query[offset]).toString('latin1'));
    offset += query[offset] + 1;
  }
  const questionEnd = offset + 5;
  const qtype = query.readUInt16BE(offset + 1);
  const name = labels.join('.').toLowerCase();
  const address = NAMES[name];
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  header.writeUInt16BE(address === undefined ? 0x8183 : 0x8180, 2);
  header.writeUInt16BE(1, 4);
  const answer = address !== undefined && qtype === 1;
  header.writeUInt16BE(answer ? 1 : 0, 6);
  const parts = [header, query.subarray(12, questionEnd)];
  if (answer) {
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0);
    record.writeUInt16BE(1, 2);
    record.writeUInt16BE(1, 4);
    record.writeUInt32BE(60, 6);
    record.writeUInt16BE(4, 10);
    address.split('.').forEach((octet, i) => (record[12 + i] = Number(octet)));
    parts.push(record);
  }
  return Buffer.concat(parts);
}

function dns(address) {
  const socket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    try {
      socket.send(dnsAnswer(query), peer.port, peer.address);
    } catch (error) {
      process.stderr.write(`bad query: ${error.message}\n`);
    }
  });
  return new Promise((resolve, reject) => socket.once('error', reject).bind(53, address, resolve));
}

if (mode === 'internet') {
  await http(addresses[0], internetHttp);
  await dns(addresses[1]);
} else {
  for (const address of addresses) await http(address, (_req, res) => res.end(`private service ${address}\n`));
}
process.stdout.write('ready\n');
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
