import type { ConfluenceClient } from '../../confluence/confluence-client';
import type { Principal } from '../../confluence/connect-auth';
import type { Clock } from '../../lib/clock';
import { NotAllowedError } from '../../lib/errors';
import type { Transactional } from '../../lib/transactional';
import type { AuditTx } from '../audit-tx';
import type { CheckpointTrail, TrailStatus } from './checkpoint-trail';

/**
 * The checkpoint trail as people reach it (docs/threat-model.md): anyone signed in may see where it is; only a
 * Confluence site admin may start it, in a space of their choice, and starting it is an audit event like any
 * other setting. The permission is checked here, per operation.
 */
export class TrailService {
  constructor(
    private readonly deps: {
      trail: CheckpointTrail;
      confluence: Pick<ConfluenceClient, 'isSiteAdmin'>;
      /** The audit chain in a transaction of its own (the trail itself lives in Confluence). */
      audit: Transactional<{ audit: AuditTx }>;
      clock: Clock;
    },
  ) {}

  async status(p: Principal): Promise<TrailStatus & { canEnable: boolean }> {
    const [status, admin] = await Promise.all([this.deps.trail.status(p.clientKey), this.deps.confluence.isSiteAdmin(p.clientKey, p.accountId)]);
    return { ...status, canEnable: admin && !status.enabled };
  }

  async enable(p: Principal, spaceKey: string): Promise<{ status: TrailStatus & { canEnable: false }; created: boolean }> {
    if (!(await this.deps.confluence.isSiteAdmin(p.clientKey, p.accountId))) {
      throw new NotAllowedError('Only Confluence site administrators can start the checkpoint trail: it covers the audit trail of the whole site.');
    }
    const { status, created } = await this.deps.trail.enable(p.clientKey, spaceKey, this.deps.clock.now());
    if (created) {
      await this.deps.audit.transaction(({ audit }) =>
        audit.append(p.clientKey, {
          action: 'checkpoint-trail.enabled',
          actor: { type: 'user', accountId: p.accountId },
          spaceKey,
          data: { space: spaceKey, url: status.url ?? null },
        }),
      );
    }
    return { status: { ...status, canEnable: false }, created };
  }
}
