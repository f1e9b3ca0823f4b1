import { ManualClock } from '../lib/clock';
import { CachedConfluenceClient } from './cached-confluence-client';
import type { ConfluenceClient } from './confluence-client';

function fakeClient(calls: string[]): ConfluenceClient {
  return {
    getPage: async () => {
      throw new Error('unused');
    },
    getPageHead: async () => {
      throw new Error('unused');
    },
    readAccess: async (ck, page, user) => {
      calls.push(`read:${ck}:${page}:${user}`);
      return user !== 'nora' ? 'granted' : 'denied';
    },
    groupMemberships: async (ck, user) => {
      calls.push(`groups:${ck}:${user}`);
      return [{ name: 'security', id: 'g-1' }];
    },
    groupsOf: async () => {
      throw new Error('the cache derives names from memberships');
    },
    isSiteAdmin: async () => false,
    spaceAdmins: async () => ({ spaceId: '1', users: [], groups: [] }),
    getUser: async () => null,
    searchUsers: async () => [],
    searchGroups: async () => [],
    createPage: async () => {
      throw new Error('unused');
    },
    updatePage: async () => {
      throw new Error('unused');
    },
    createComment: async () => ({ id: '1' }),
    getAppProperty: async () => null,
    putAppProperty: async () => undefined,
  };
}

describe('CachedConfluenceClient', () => {
  it('keeps a permission answer per tenant, user and page for at most 60 s', async () => {
    const calls: string[] = [];
    const clock = new ManualClock();
    const client = new CachedConfluenceClient(fakeClient(calls), clock, 120_000);
    expect(await client.readAccess('t1', 'p1', 'alice')).toBe('granted');
    expect(await client.readAccess('t1', 'p1', 'alice')).toBe('granted');
    expect(calls).toHaveLength(1);
    // another tenant, user or page is never served from the same entry
    await client.readAccess('t2', 'p1', 'alice');
    await client.readAccess('t1', 'p1', 'nora');
    await client.readAccess('t1', 'p2', 'alice');
    expect(calls).toHaveLength(4);
    clock.advance(59_999);
    await client.readAccess('t1', 'p1', 'alice');
    expect(calls).toHaveLength(4);
    clock.advance(1);
    await client.readAccess('t1', 'p1', 'alice');
    expect(calls).toHaveLength(5);
  });

  it('does not remember failures', async () => {
    let fail = true;
    const clock = new ManualClock();
    const inner = fakeClient([]);
    inner.groupMemberships = async () => {
      if (fail) throw new Error('upstream down');
      return [{ name: 'g' }];
    };
    const client = new CachedConfluenceClient(inner, clock);
    await expect(client.groupsOf('t', 'u')).rejects.toThrow('upstream down');
    fail = false;
    await expect(client.groupsOf('t', 'u')).resolves.toEqual(['g']);
  });
});
