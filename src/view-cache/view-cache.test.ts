import { DEFAULT_POLICY } from '../approvals/space-policy';
import { ViewCache, ViewCacheLoaders } from './view-cache';
import type { StoredRenderRows } from './view-cache-store';

/** Loaders that count their calls and can be held mid-load, to interleave a change with a load. */
function loaders() {
  let version = 1;
  let hold: Promise<void> | null = null;
  const calls = { tenant: 0, render: 0, policy: 0, delegations: 0 };
  const l: ViewCacheLoaders = {
    tenant: async (clientKey) => {
      calls.tenant++;
      const v = version;
      if (hold) await hold;
      return clientKey === 'unknown' ? null : { clientKey, sharedSecret: `secret-${v}`, baseUrl: 'https://x.atlassian.net/wiki' };
    },
    renderRows: async (): Promise<StoredRenderRows> => {
      calls.render++;
      const v = version;
      if (hold) await hold;
      return { spaceSettings: null, workflow: null, decisions: [{ id: v } as never], pageWorkflows: [] };
    },
    spaceSettings: async (_clientKey, spaceKey) => {
      calls.policy++;
      const v = version;
      if (hold) await hold;
      return spaceKey === 'DEFAULTS' ? null : { allowSelfApproval: v % 2 === 0, resetOnEdit: 'content', reminderCadenceDays: v, exportRole: 'space-admins', defaults: {} };
    },
    openDelegations: async (clientKey) => {
      calls.delegations++;
      const v = version;
      if (hold) await hold;
      return [{ id: `d${v}`, delegatorId: 'boss', delegateId: `${clientKey}-deputy`, startsOn: '2026-01-01', endsOn: '2026-12-31', endedAt: null, createdAt: new Date(0), updatedAt: new Date(0) }];
    },
  };
  return {
    l,
    calls,
    bump: () => void version++,
    holdNext: () => {
      let release!: () => void;
      hold = new Promise((r) => (release = r));
      return () => {
        hold = null;
        release();
      };
    },
  };
}

describe('ViewCache', () => {
  it('serves nothing until its listener listens, and forgets everything when it stops', async () => {
    const f = loaders();
    const cache = new ViewCache(f.l);
    await cache.tenant('a');
    await cache.tenant('a');
    expect(f.calls.tenant).toBe(2);
    cache.reset(true);
    await cache.tenant('a');
    await cache.tenant('a');
    expect(f.calls.tenant).toBe(3);
    cache.reset(false);
    await cache.tenant('a');
    expect(f.calls.tenant).toBe(4);
  });

  it('drops only the changed tenant, and everything on an empty payload', async () => {
    const f = loaders();
    const cache = new ViewCache(f.l);
    cache.reset(true);
    await cache.renderSnapshot('a', 'S', '1', 'm');
    await cache.renderSnapshot('b', 'S', '1', 'm');
    cache.changed('a');
    await cache.renderSnapshot('a', 'S', '1', 'm');
    await cache.renderSnapshot('b', 'S', '1', 'm');
    expect(f.calls.render).toBe(3);
    cache.changed('');
    await cache.renderSnapshot('b', 'S', '1', 'm');
    expect(f.calls.render).toBe(4);
  });

  it('does not keep a load that a change overlapped (it may hold the rows from before the change)', async () => {
    const f = loaders();
    const cache = new ViewCache(f.l);
    cache.reset(true);
    const release = f.holdNext();
    const loading = cache.renderSnapshot('a', 'S', '1', 'm');
    f.bump();
    cache.changed('a');
    release();
    expect((await loading).decisions[0]).toEqual({ id: 1 });
    expect((await cache.renderSnapshot('a', 'S', '1', 'm')).decisions[0]).toEqual({ id: 2 });
    expect(f.calls.render).toBe(2);
    // …and the same for a secret replaced by a reinstall during the lookup.
    const releaseTenant = f.holdNext();
    const looking = cache.tenant('a');
    f.bump();
    cache.configChanged('a');
    releaseTenant();
    expect((await looking)?.sharedSecret).toBe('secret-2');
    expect((await cache.tenant('a'))?.sharedSecret).toBe('secret-3');
  });

  it('keeps the secret and the policies through writes to workflows and decisions, drops them on an install or settings change', async () => {
    const f = loaders();
    const cache = new ViewCache(f.l);
    cache.reset(true);
    expect((await cache.policy('a', 'S')).reminderCadenceDays).toBe(1);
    await cache.tenant('a');
    await cache.renderSnapshot('a', 'S', '1', 'm');
    f.bump();
    cache.changed('a'); // a decision committed
    expect((await cache.policy('a', 'S')).reminderCadenceDays).toBe(1);
    expect((await cache.tenant('a'))?.sharedSecret).toBe('secret-1');
    expect((await cache.renderSnapshot('a', 'S', '1', 'm')).decisions[0]).toEqual({ id: 2 });
    expect(f.calls).toEqual({ tenant: 1, render: 2, policy: 1, delegations: 0 });
    cache.configChanged('a'); // a reinstall or a settings change committed
    expect((await cache.policy('a', 'S')).reminderCadenceDays).toBe(2);
    expect((await cache.tenant('a'))?.sharedSecret).toBe('secret-2');
    await cache.renderSnapshot('a', 'S', '1', 'm');
    expect(f.calls).toEqual({ tenant: 2, render: 3, policy: 2, delegations: 0 });
    // Another tenant's change is not this one's.
    cache.configChanged('b');
    await cache.policy('a', 'S');
    await cache.tenant('a');
    expect(f.calls).toEqual({ tenant: 2, render: 3, policy: 2, delegations: 0 });
    expect(await cache.policy('a', 'DEFAULTS')).toBe(DEFAULT_POLICY);
  });

  it('does not keep a policy whose load a settings change overlapped, but keeps one a decision overlapped', async () => {
    const f = loaders();
    const cache = new ViewCache(f.l);
    cache.reset(true);
    let release = f.holdNext();
    let loading = cache.policy('a', 'S');
    f.bump();
    cache.configChanged('a');
    release();
    expect((await loading).reminderCadenceDays).toBe(1);
    expect((await cache.policy('a', 'S')).reminderCadenceDays).toBe(2);
    expect(f.calls.policy).toBe(2);
    cache.configChanged('a');
    release = f.holdNext();
    loading = cache.policy('a', 'S');
    cache.changed('a');
    release();
    await loading;
    await cache.policy('a', 'S');
    expect(f.calls.policy).toBe(3);
  });

  it('keeps a tenant\'s open delegations through decisions, drops them on a delegation change, and not a load a change overlapped', async () => {
    const f = loaders();
    const cache = new ViewCache(f.l);
    cache.reset(true);
    expect((await cache.openDelegations('a'))[0].id).toBe('d1');
    cache.changed('a'); // a decision: workflows and decisions
    expect((await cache.openDelegations('a'))[0].id).toBe('d1');
    expect(f.calls.delegations).toBe(1);
    f.bump();
    cache.configChanged('a'); // a delegation given or ended (migration 20261203000601 announces it here)
    expect((await cache.openDelegations('a'))[0].id).toBe('d2');
    expect(f.calls.delegations).toBe(2);
    expect((await cache.openDelegations('b'))[0].delegateId).toBe('b-deputy');
    // A load overlapped by a delegation change is answered but not kept.
    f.bump();
    cache.configChanged('a');
    const release = f.holdNext();
    const loading = cache.openDelegations('a');
    f.bump();
    cache.configChanged('a');
    release();
    expect((await loading)[0].id).toBe('d3');
    expect((await cache.openDelegations('a'))[0].id).toBe('d4');
    expect(Object.isFrozen(await cache.openDelegations('a'))).toBe(true);
  });

  it('never remembers an unknown installation (anyone can name one)', async () => {
    const f = loaders();
    const cache = new ViewCache(f.l);
    cache.reset(true);
    expect(await cache.tenant('unknown')).toBeNull();
    expect(await cache.tenant('unknown')).toBeNull();
    expect(f.calls.tenant).toBe(2);
  });

  it('hands out frozen snapshots (a caller cannot change what the next render reads)', async () => {
    const cache = new ViewCache(loaders().l);
    cache.reset(true);
    const s = await cache.renderSnapshot('a', 'S', '1', 'm');
    expect(Object.isFrozen(s.decisions)).toBe(true);
    expect(() => (s.decisions as unknown[]).push({})).toThrow();
  });
});
