import { z } from 'zod';
import type { ConfluenceClient } from '../../confluence/confluence-client';
import { NotFoundError } from '../../lib/errors';
import { Witness, WitnessedCheckpoint, WitnessError } from './witness';

/** App property keys (Confluence allows 127 characters and 32 KB a value). */
export const LATEST_PROPERTY = 'attest-checkpoint-latest';
export const HISTORY_PROPERTY = 'attest-checkpoint-history';
/** About 300 bytes each: the history stays well under Confluence's 32 KB a property. */
export const HISTORY_LENGTH = 64;

const checkpoint = z
  .object({
    clientKey: z.string().min(1),
    seq: z.number().int().positive(),
    chainHash: z.string().regex(/^[0-9a-f]{64}$/),
    signedAt: z.string().min(1),
    keyId: z.string().regex(/^[0-9a-f]{64}$/),
    signature: z.string().min(1),
  })
  .strict();
const history = z.array(checkpoint).max(HISTORY_LENGTH);

/**
 * The customer's own Confluence as a witness: each checkpoint is stored in the app's properties on the
 * tenant's site (Connect app properties: only the app itself can read or write them, with its shared
 * secret, which the database holds only encrypted under ATTEST_SECRET_KEY). A database superuser can
 * neither read nor change them; an operator holding every key could (docs/threat-model.md says so).
 */
export class ConfluenceWitness implements Witness {
  readonly name = 'confluence';

  constructor(private readonly confluence: Pick<ConfluenceClient, 'getAppProperty' | 'putAppProperty'>) {}

  async publish(cp: WitnessedCheckpoint): Promise<void> {
    const value = checkpoint.parse(cp);
    try {
      const past = await this.read(cp.clientKey, HISTORY_PROPERTY, history);
      const next = [...(past ?? []).filter((p) => p.seq < value.seq), value].slice(-HISTORY_LENGTH);
      await this.confluence.putAppProperty(cp.clientKey, HISTORY_PROPERTY, next);
      await this.confluence.putAppProperty(cp.clientKey, LATEST_PROPERTY, value);
    } catch (err) {
      throw new WitnessError(this.name, `could not store checkpoint ${cp.seq}: ${(err as Error).message}`);
    }
  }

  /** The last HISTORY_LENGTH checkpoints this witness holds for the tenant, oldest first. */
  async history(clientKey: string): Promise<WitnessedCheckpoint[]> {
    const value = (await this.read(clientKey, HISTORY_PROPERTY, history)) ?? [];
    return value.filter((c) => c.clientKey === clientKey);
  }

  async latest(clientKey: string): Promise<WitnessedCheckpoint | null> {
    const value = await this.read(clientKey, LATEST_PROPERTY, checkpoint);
    if (value && value.clientKey !== clientKey) throw new WitnessError(this.name, `the stored checkpoint names another tenant`);
    return value;
  }

  /** The property's value parsed with `schema`; null when it was never set. */
  private async read<T>(clientKey: string, key: string, schema: z.ZodType<T>): Promise<T | null> {
    let raw: unknown;
    try {
      raw = await this.confluence.getAppProperty(clientKey, key);
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw new WitnessError(this.name, `could not read ${key}: ${(err as Error).message}`);
    }
    if (raw === null) return null;
    const parsed = schema.safeParse(raw);
    if (!parsed.success) throw new WitnessError(this.name, `${key} does not hold a checkpoint (${parsed.error.issues[0]?.message})`);
    return parsed.data;
  }
}
