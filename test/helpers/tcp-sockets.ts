import { readFileSync } from 'node:fs';

/** A TCP socket of this machine as /proc/net/tcp{,6} lists it (Linux). */
export interface TcpSocketRow {
  localPort: number;
  remotePort: number;
  /** The kernel's timer on it: 0 none, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero window probe. */
  timer: number;
}

/** Every TCP socket of the machine, IPv4 and IPv6 (empty where /proc/net is not there). */
export function tcpSockets(): TcpSocketRow[] {
  const rows: TcpSocketRow[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 6) continue;
      const port = (addr: string) => parseInt(addr.split(':').pop() ?? '', 16);
      rows.push({ localPort: port(f[1]), remotePort: port(f[2]), timer: parseInt(f[5].split(':')[0], 16) });
    }
  }
  return rows;
}

export const KEEPALIVE_TIMER = 2;
