import { NotAllowedError } from '../lib/errors';
import type { ReportRequest } from './report-service';

type User = { clientKey: string; accountId: string };
/** The evidence export's permission rule (EvidenceService.authorise): the report shows what the export shows. */
export type Authorise = (user: User, spaceKey: string | null) => Promise<void>;

/**
 * What `user` may see of the report: a space whose evidence they may export; without a space, every space for a
 * site admin, else the spaces of the trail whose evidence they may export (each asked of Confluence), or a 403
 * when there are none.
 */
export async function reportScope(
  authorise: Authorise,
  spaceKeys: (clientKey: string) => Promise<string[]>,
  user: User,
  spaceKey: string | null,
): Promise<Pick<ReportRequest, 'spaceKey' | 'spaces'>> {
  if (spaceKey !== null) {
    await authorise(user, spaceKey);
    return { spaceKey };
  }
  try {
    await authorise(user, null);
    return { spaceKey: null };
  } catch (err) {
    if (!(err instanceof NotAllowedError)) throw err;
    const spaces: string[] = [];
    for (const space of await spaceKeys(user.clientKey)) {
      try {
        await authorise(user, space);
        spaces.push(space);
      } catch (e) {
        if (!(e instanceof NotAllowedError)) throw e;
      }
    }
    if (!spaces.length) throw new NotAllowedError('Only site administrators, or administrators of a space with Attest activity, can see a report without a space.');
    return { spaceKey: null, spaces };
  }
}
