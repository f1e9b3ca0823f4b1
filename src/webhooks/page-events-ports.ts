import type { ApprovalsTx } from '../approvals/approvals-ports';
import type { Transactional } from '../lib/transactional';
import type { NewPageEvent, PageEvent } from './page-events-store';

/** The inbox of page webhooks outside transactions. */
export interface PageEventsInbox {
  /** Stores a delivery; null when the same delivery (dedupe key) was stored before. */
  insert(clientKey: string, e: NewPageEvent, receivedAt: Date): Promise<PageEvent | null>;
  markProcessed(clientKey: string, id: number, outcome: string, at: Date): Promise<void>;
  markFailed(clientKey: string, id: number, error: string): Promise<void>;
  /**
   * The tenant's unprocessed deliveries due for another attempt at `now`, in Confluence's order (the retry job): one
   * that failed `attempts` times is due once it was received `firstAfterMs` × 2^attempts ago, until `maxAttempts`.
   */
  unprocessed(clientKey: string, now: Date, retry: { firstAfterMs: number; maxAttempts: number; limit: number }): Promise<PageEvent[]>;
}

/** The inbox inside a transaction that handles one page's trash/restore/remove. */
export interface PageEventsInboxTx {
  /** Serialises the handling of one page's events until the transaction ends. */
  lockPage(clientKey: string, pageId: string): Promise<void>;
  /** A processed trash/restore/remove of the page that Confluence sent after `eventAt`. */
  newerStatusEvent(clientKey: string, pageId: string, eventAt: Date): Promise<PageEvent | null>;
  markProcessed(clientKey: string, id: number, outcome: string, at: Date): Promise<void>;
}

/** One transaction's stores: the inbox and the approvals' workflows and audit chain, committed together. */
export interface PageEventsTx {
  inbox: PageEventsInboxTx;
  approvals: ApprovalsTx;
}

export interface PageEventsStores extends Transactional<PageEventsTx> {
  inbox: PageEventsInbox;
}
