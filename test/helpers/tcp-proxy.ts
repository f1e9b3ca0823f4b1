import net from 'node:net';

/** A loopback TCP proxy whose connections can be made to die without a word (tests of silent connection loss). */
export interface TcpProxy {
  port: number;
  /** Connections open now (either side still open). */
  readonly open: number;
  /**
   * The connections open now stop carrying anything, either way, and never close from the far side — as behind a
   * NAT gateway that forgot them, or to a host gone in a failover. New connections still go through.
   */
  silenceExisting(): void;
  close(): Promise<void>;
}

export async function tcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<{ near: net.Socket; far: net.Socket; silent: boolean }>();
  const server = net.createServer((near) => {
    const far = net.connect(target.port, target.host);
    const pair = { near, far, silent: false };
    pairs.add(pair);
    const relay = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk) => pair.silent || to.write(chunk));
      from.on('end', () => pair.silent || to.end());
      from.on('error', () => pair.silent || to.destroy());
      from.on('close', () => {
        if (pair.silent) {
          // The silenced side that closes is ours to drop; the other stays as a gone host would leave it.
          if (from === near) far.destroy();
        } else to.destroy();
        if (near.destroyed && far.destroyed) pairs.delete(pair);
      });
    };
    relay(near, far);
    relay(far, near);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get open() {
      return [...pairs].filter((p) => !p.near.destroyed).length;
    },
    silenceExisting() {
      for (const p of pairs) p.silent = true;
    },
    async close() {
      for (const p of pairs) {
        p.near.destroy();
        p.far.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
