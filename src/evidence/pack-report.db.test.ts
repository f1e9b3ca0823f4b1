/**
 * The pack's report.html is built from the same read of the snapshot that writes events.csv (issue 15: the pack
 * read the chain a third time for it). It must be byte for byte the report that reads the chain on its own.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { PassThrough } from 'node:stream';
import yauzl from 'yauzl';
import { checkpointAt, generateChain } from '../../bench/export-fixture';
import { createTestDatabase, TestDatabase } from '../../test/helpers/database';
import type { Knex } from '../db/knex';
import { ManualClock } from '../lib/clock';
import { startReport, writeReport } from '../report/report-service';
import type { EvidenceEvent } from './evidence-csv';
import { EvidenceService } from './evidence-service';
import { AuditReadModel } from '../audit/audit-read-model';
import type { EvidenceFilter } from './evidence-types';

const CK = 'pack-report-tenant';
const N = 1200;
const BASE = Date.parse('2026-01-01T00:00:00Z');
const { privateKey } = generateKeyPairSync('ed25519');

/** Counts the rows every read of the chain hands out, across the snapshot-bound copies the service makes. */
class CountingStore extends AuditReadModel {
  constructor(
    db: Knex,
    readonly reads: { rows: number; passes: number },
  ) {
    super(db);
  }
  protected boundTo(conn: Knex): AuditReadModel {
    return new CountingStore(conn, this.reads);
  }
  async *events(clientKey: string, opts: { fromSeq: number; toSeq: number; contentToSeq: number }): AsyncGenerator<EvidenceEvent> {
    this.reads.passes++;
    for await (const e of super.events(clientKey, opts)) {
      this.reads.rows++;
      yield e;
    }
  }
}

let tdb: TestDatabase;
const clock = new ManualClock('2026-03-01T00:00:00.000Z');

beforeAll(async () => {
  tdb = await createTestDatabase();
  await generateChain(tdb.db, CK, N);
  // Checkpoints inside the chain and at its head, as the scheduler leaves them.
  for (const seq of [400, 900, N]) await checkpointAt(tdb.db, CK, seq, privateKey, undefined, new Date(BASE + 3_600_000 + seq));
});

afterAll(async () => {
  await tdb.drop();
});

async function entry(zip: Buffer, name: string): Promise<string> {
  const zf = await new Promise<yauzl.ZipFile>((res, rej) => yauzl.fromBuffer(zip, { lazyEntries: true }, (e, z) => (e ? rej(e) : res(z!))));
  return new Promise<string>((resolve, reject) => {
    zf.on('entry', async (en: yauzl.Entry) => {
      if (en.fileName !== name) return zf.readEntry();
      const chunks: Buffer[] = [];
      for await (const c of await zf.openReadStreamPromise(en)) chunks.push(c as Buffer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    zf.on('end', () => reject(new Error(`${name} is not in the pack`)));
    zf.on('error', reject);
    zf.readEntry();
  });
}

async function pack(filter: EvidenceFilter, signed: boolean): Promise<{ report: string; reads: { rows: number; passes: number } }> {
  const reads = { rows: 0, passes: 0 };
  const service = new EvidenceService({
    store: new CountingStore(tdb.db, reads),
    signingKey: signed ? privateKey : null,
    clock,
    signHead: async () => undefined,
    report: startReport,
  });
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await service.write(CK, filter, 'zip', out);
  return { report: await entry(Buffer.concat(chunks), 'report.html'), reads };
}

/** The report as `attest report` reads it: its own pass over the chain from seq 1. */
async function alone(filter: EvidenceFilter, contentToSeq: number, signed: boolean): Promise<string> {
  const store = new AuditReadModel(tdb.db);
  return store.snapshot((source) => writeReport(source, { clientKey: CK, ...filter, contentToSeq, publicKey: signed ? createPublicKey(privateKey) : null, generatedAt: clock.now() }));
}

const at = (seq: number) => new Date(BASE + seq);

it.each([
  ['the whole site', { spaceKey: null, from: null, to: null }, true, N],
  ['one space', { spaceKey: 'SEC', from: null, to: null }, true, N],
  ['a period from seq 500 (the rows before it read by the report alone)', { spaceKey: null, from: at(500), to: null }, true, N],
  ['a period up to seq 700 (the pack runs on to the checkpoint at 900)', { spaceKey: 'ENG', from: at(300), to: at(700) }, true, 699],
])('a pack of %s reads the chain once for events.csv and its report, and the report is the one read alone', async (_name, filter, signed, contentToSeq) => {
  const { report, reads } = await pack(filter, signed);
  expect(report).toBe(await alone(filter, contentToSeq, signed));
  expect(report).toContain('data-ok="true"');
  // events.csv and chain.txt read the pack's rows once each; the report reads only the rows before the pack's first.
  const first = filter.from ? filter.from.getTime() - BASE : 1;
  const last = filter.to ? 900 : N;
  expect(reads.rows).toBe(2 * (last - first + 1) + (first - 1));
});

it('an unsigned pack with an end shows its rows up to the checkpoint in full: the report, which stops at the end, reads on its own', async () => {
  const filter = { spaceKey: null, from: null, to: at(700) };
  const { report, reads } = await pack(filter, false);
  expect(report).toBe(await alone(filter, 900, false));
  expect(reads.passes).toBe(3);
});
