/**
 * The space's calendar subscription (issue 17), assembled: its admin API (context JWT, space admins) and the
 * feed behind a secret URL (no JWT). app.ts mounts the router this returns.
 */
import type { AddOn } from 'atlassian-connect-express';
import type { Router } from 'express';
import type { Knex } from 'knex';
import type { AuditLog } from '../audit/audit-log';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import type { SpaceAdminCheck } from '../spaces/space-admin';
import { createCalendarRouter } from './calendar-router';
import { CalendarService } from './calendar-service';
import { calendarStores, CalendarStore } from './calendar-store';

export function createCalendar(deps: {
  addon: AddOn;
  db: Knex;
  audit: AuditLog;
  admins: SpaceAdminCheck;
  /** The installation's Confluence base URL (the events link to its pages), null when not installed. */
  hostBaseUrl(clientKey: string): Promise<string | null>;
  localBaseUrl: string;
  clock: Clock;
  logger: Logger;
}): { router: Router; service: CalendarService } {
  const service = new CalendarService({
    stores: calendarStores(deps.db, { store: new CalendarStore(deps.db), audit: deps.audit }),
    admins: deps.admins,
    hostBaseUrl: deps.hostBaseUrl,
    localBaseUrl: deps.localBaseUrl,
    clock: deps.clock,
    logger: deps.logger.child({ component: 'calendar' }),
  });
  return { router: createCalendarRouter({ addon: deps.addon, service }), service };
}
