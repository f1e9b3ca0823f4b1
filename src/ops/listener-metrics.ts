import { Counter, Gauge, Registry } from 'prom-client';

/** The instance's tenant change listener (src/view-cache/tenant-change-listener.ts), as metrics read it. */
export interface ListenerHealth {
  readonly isListening: boolean;
  readonly drops: number;
}

/**
 * Whether this instance hears the tenants' changes: while it does not, its caches serve nothing and every render and
 * decision reads the database (correct, slower). A drop now and then is a database restart or failover; a count that
 * keeps rising is a connection something in between keeps cutting.
 */
export function registerListenerGauges(registry: Registry, listener: ListenerHealth): void {
  const listening = new Gauge({
    name: 'attest_tenant_cache_listening',
    help: '1 while this instance listens for tenant changes (its caches serve), 0 while they are bypassed',
    registers: [registry],
    collect() {
      listening.set(listener.isListening ? 1 : 0);
    },
  });
  const drops = new Counter({
    name: 'attest_tenant_cache_listener_drops_total',
    help: 'Connections of the tenant change listener lost (dropped, refused, or silent past a heartbeat) since the instance started',
    registers: [registry],
    collect() {
      drops.reset();
      drops.inc(listener.drops);
    },
  });
}
