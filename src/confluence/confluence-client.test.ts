import { ConfluenceClient, isSpaceAdmin } from './confluence-client';

/** Only what isSpaceAdmin asks: the space's admin principals and the user's groups. */
function client(admins: { users: string[]; groups: string[] }, groups: Array<{ name: string; id?: string }>): ConfluenceClient {
  return { spaceAdmins: async () => ({ spaceId: '1', ...admins }), groupMemberships: async () => groups } as unknown as ConfluenceClient;
}

describe('isSpaceAdmin', () => {
  it('matches a user directly and a group by its id', async () => {
    expect(await isSpaceAdmin(client({ users: ['u1'], groups: [] }, []), 'ck', 'ENG', 'u1')).toBe(true);
    expect(await isSpaceAdmin(client({ users: [], groups: ['g-1'] }, [{ name: 'admins', id: 'g-1' }]), 'ck', 'ENG', 'u2')).toBe(true);
  });

  it('never matches a group by name, even one named like an admin group id (security review row 3)', async () => {
    const lookalike = [{ name: 'g-1', id: 'g-999' }];
    expect(await isSpaceAdmin(client({ users: [], groups: ['g-1'] }, lookalike), 'ck', 'ENG', 'u3')).toBe(false);
    expect(await isSpaceAdmin(client({ users: [], groups: ['g-1'] }, [{ name: 'g-1' }]), 'ck', 'ENG', 'u3')).toBe(false);
    expect(await isSpaceAdmin(client({ users: ['u1'], groups: [] }, []), 'ck', 'ENG', '')).toBe(false);
  });
});
