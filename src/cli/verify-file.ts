import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import v8 from 'node:v8';
import { isHashHex } from '../audit/audit-format';
import { printable } from '../lib/terminal';
import { FileVerifyResult, readEarlierCheckpoint, verifyEvidenceFile } from '../evidence/evidence-verifier';
import { isZip } from '../evidence/pack-zip';
import { workersFor } from '../evidence/row-pool';
import { CliContext, EXIT, parseCommandArgs, readPublicKey, UsageError } from './command';

export { readPublicKey };

export const VERIFY_FILE_USAGE = `attest verify FILE.csv|FILE.zip [--public-key PEM | --key-id HEX | --trust-pack-key] [--genesis CLIENT_KEY | --prev HASH] [--since OLD.zip|checkpoint.json] [--tsa-cert PEM] [--strict | --no-strict] [--csv]

Verifies an evidence export offline, streaming it (any size): seq continuity, every leaf and chain hash,
every display column against the canonical text, actor_ref = SHA-256(salt ‖ accountId) where both are
shown, the first prev_chain_hash (the tenant's genesis hash for a chain that starts at seq 1, or HASH),
and for a pack (zip) the file digests in manifest.json and the signed checkpoint. A pack of format v4 or v5 is read
through its chain.txt (one line per event), and its events.csv must be byte for byte the CSV those lines derive.
  --public-key PEM   the checkpoint key you obtained from the operator (attest keys; the Attest screen shows its id)
  --key-id HEX       or just its id: the pack's key must have this SHA-256 fingerprint (attest keys --id)
  --trust-pack-key   accept the key inside the pack without pinning it (then "ok" proves only that the pack
                     is consistent with itself: whoever made the pack could have made the key too)
                     A pack with a checkpoint FAILs unless one of these three is given.
  --genesis KEY      the file must start at seq 1 of tenant KEY
  --prev HASH        the first row's prev_chain_hash must be HASH (hex)
  --tsa-cert PEM     the timestamp authority's certificate(s): every checkpoint's TSA token must stamp it no
                     earlier than it was signed, and none may be unstamped after one was (without it the
                     tokens are reported as not checked)
  --since OLD        an earlier pack (or its checkpoint.json) you kept: FILE must hold the same chain hash at
                     the earlier checkpoint's seq (signed with the same pinned key), so a history rewritten or
                     forked after the earlier export fails
  --strict           fail when a row is after the last signed checkpoint, or a pack's manifest is unsigned
                     (the default for a pack; a CSV carries no signature, so it then always fails)
  --no-strict        report such rows as unsigned instead of failing, and accept an unsigned manifest (a pack
                     attest export wrote without the signing key), which may then hide no row
  --csv              a v4 pack: parse and check events.csv itself instead of deriving it from chain.txt (slower;
                     chain.txt is then held to its digest only)
  --threads N        worker threads that check the rows (a pack's chain.txt lines, or a CSV's records) each on its
                     own, while the main thread reads the file and checks how each row links to the one before
                     (default: none for a file under 16 MiB or on one core, else one per core but one, at least
                     2 and at most 3); 0 checks everything on the main thread, in less memory (each worker holds
                     its own ~50 MB)
A CSV may come through a pipe (FILE /dev/stdin, a FIFO); a pack, read from its end, must be a file.
Prints "ok: ..." (always saying how far signatures reach) and exits 0, or "FAIL: ..." for the first bad row
and exits 1.`;

export function readTsaCertificates(file: string): string[] {
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`verify: cannot read --tsa-cert ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!certs) throw new UsageError(`verify: --tsa-cert ${file} holds no PEM certificate`);
  return certs;
}

export function describe(file: string, r: Extract<FileVerifyResult, { ok: true }>, pinnedId = false): string {
  if (r.rows === 0) return `ok: ${file}, no rows (nothing to check)`;
  const redacted = r.redactedRows ? ` (${r.redactedRows} outside the export's filter, hashes only)` : '';
  const start = {
    genesis: `starts at the genesis hash of tenant ${r.tenant}`,
    given: 'starts at the given --prev hash',
    unanchored: 'start not anchored (pass --prev HASH, or rely on the checkpoint)',
    none: '',
  }[r.start];
  const cp =
    r.checkpoint.status === 'absent'
      ? 'no signed checkpoint'
      : `checkpoint at seq ${r.checkpoint.seq} verified with ${
          r.checkpoint.keySource === 'given'
            ? 'the given public key'
            : pinnedId
              ? "the pack's public key, whose id matches the pinned --key-id"
              : "the pack's own public key, accepted unpinned (--trust-pack-key)"
        } ${r.checkpoint.keyId}`;
  const reach =
    r.signedToSeq === null
      ? `UNSIGNED: no signature covers seq ${r.firstSeq}..${r.lastSeq}`
      : r.unsignedRows
        ? `signatures reach seq ${r.signedToSeq}; UNSIGNED: seq ${r.signedToSeq + 1}..${r.lastSeq} (${r.unsignedRows} rows)`
        : `signatures reach seq ${r.signedToSeq}, the last row`;
  const ts = r.checkpoint.timestamp;
  const stamp =
    !ts || r.checkpoint.status === 'absent'
      ? ''
      : ts.status === 'verified'
        ? `; timestamped by the trusted TSA at ${ts.genTime}`
        : ts.status === 'unchecked'
          ? '; TSA timestamp present, not checked (pass --tsa-cert)'
          : '; no TSA timestamp';
  const manifest =
    r.manifest === 'signed'
      ? '; manifest signed'
      : r.manifest === 'unsigned'
        ? '; manifest NOT signed (its filters are the exporter\'s word; no row is hidden)'
        : '';
  const all = r.checkpoint.all;
  const every = !all
    ? ''
    : `; ${all.count} checkpoint${all.count === 1 ? '' : 's'} in range verified${all.timestamped ? ` (${all.timestamped} with TSA tokens${all.timestampsChecked ? ', checked' : ', not checked'})` : ''}`;
  const erased = r.erasedSubjects ? `; ${r.erasedSubjects} erased subject${r.erasedSubjects === 1 ? '' : 's'}, each with its subject.erased event` : '';
  const ext = r.extends ? `; extends the earlier checkpoint at seq ${r.extends.seq}` : '';
  return `ok: ${file}, ${r.rows} rows${redacted}, seq ${r.firstSeq}..${r.lastSeq}, head ${r.head}; ${start}; ${cp}${stamp}${every}; ${reach}${manifest}${erased}${ext}`;
}

function threadsOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d$/.test(value)) throw new UsageError('verify: --threads must be a whole number from 0 to 9');
  return Number(value);
}

/**
 * `--since OLD`: the earlier checkpoint, held to the same pin as FILE (an earlier pack re-signed with another
 * key proves nothing); an exit code when it cannot be used.
 */
async function sinceCheckpoint(
  file: string,
  publicKey: KeyObject | undefined,
  pinnedId: string | undefined,
  trustPackKey: boolean,
  ctx: CliContext,
): Promise<{ seq: number; chainHash: string; tenant: string } | number> {
  if (!fs.existsSync(file)) {
    ctx.err(printable(`attest verify: no such file: ${file}`));
    return EXIT.error;
  }
  const earlier = await readEarlierCheckpoint(file, publicKey);
  if ('problem' in earlier) {
    ctx.out(printable(`FAIL: --since ${earlier.problem}`));
    return EXIT.failed;
  }
  if (!publicKey && pinnedId !== undefined && earlier.keyId !== pinnedId) {
    ctx.out(printable(`FAIL: --since: the earlier checkpoint is signed with key ${earlier.keyId}, not the pinned key ${pinnedId}`));
    return EXIT.failed;
  }
  if (!publicKey && pinnedId === undefined && !trustPackKey) {
    ctx.out('FAIL: --since: pin the operator\'s key with --public-key FILE or --key-id HEX (or pass --trust-pack-key) to check the earlier checkpoint');
    return EXIT.failed;
  }
  return { seq: earlier.checkpoint.seq, chainHash: earlier.checkpoint.chainHash, tenant: earlier.checkpoint.tenant };
}

/** A signature checked only with the key the pack brings proves nothing about who signed it: the failure, or null. */
function pinProblem(result: Extract<FileVerifyResult, { ok: true }>, pinnedId: string | undefined, trustPackKey: boolean): string | null {
  const cp = result.checkpoint;
  // The checkpoint's key, else (a pack without one: no rows) the manifest's: either signature is held to the pin.
  const [what, signed] =
    cp.status !== 'absent' ? ['checkpoint', { id: cp.keyId, source: cp.keySource }] : result.manifestKey ? ['manifest', result.manifestKey] : [null, null];
  if (!what || !signed || signed.source === 'given') return null;
  if (pinnedId !== undefined && signed.id !== pinnedId) return `FAIL: the pack's ${what} is signed with key ${signed.id}, not the pinned key ${pinnedId}`;
  if (pinnedId === undefined && !trustPackKey) {
    return (
      `FAIL: the ${what} verifies only with the key inside the pack (${signed.id}); pin the operator's key ` +
      'with --public-key FILE or --key-id HEX (attest keys --id), or pass --trust-pack-key to accept it unpinned'
    );
  }
  return null;
}

/** The options of `attest verify FILE`, checked against each other. */
function verifyArgs(args: string[]) {
  const { values, positionals } = parseCommandArgs(
    'verify',
    args,
    {
      'public-key': { type: 'string' },
      'key-id': { type: 'string' },
      'trust-pack-key': { type: 'boolean' },
      'tsa-cert': { type: 'string' },
      genesis: { type: 'string' },
      prev: { type: 'string' },
      since: { type: 'string' },
      strict: { type: 'boolean' },
      'no-strict': { type: 'boolean' },
      csv: { type: 'boolean' },
      threads: { type: 'string' },
    },
    true,
  );
  if (positionals.length !== 1) throw new UsageError('verify: give one FILE (or --db --client-key KEY)');
  if (values.genesis !== undefined && values.prev !== undefined) throw new UsageError('verify: give --genesis or --prev, not both');
  if (values.strict && values['no-strict']) throw new UsageError('verify: give --strict or --no-strict, not both');
  if (values.prev !== undefined && !isHashHex(values.prev)) throw new UsageError('verify: --prev must be 64 lower-case hex characters');
  const pins = [values['public-key'] !== undefined, values['key-id'] !== undefined, !!values['trust-pack-key']].filter(Boolean).length;
  if (pins > 1) throw new UsageError('verify: give one of --public-key, --key-id and --trust-pack-key');
  if (values['key-id'] !== undefined && !isHashHex(values['key-id'])) throw new UsageError('verify: --key-id must be 64 lower-case hex characters (attest keys --id)');
  return { values, positionals };
}

/**
 * Whether `file` is a pack whose rows worker threads will check (not --csv, not --threads 0, a regular file large
 * enough for workers by its own size: a smaller zip may still get them, and then just runs as before).
 */
export async function packInWorkers(file: string, viaCsv: boolean, threads: number | undefined): Promise<boolean> {
  if (viaCsv) return false;
  try {
    const stat = await fs.promises.stat(file);
    return stat.isFile() && workersFor(stat.size, threads) > 0 && (await isZip(file));
  } catch {
    return false; // unreadable: the verifier says so itself
  }
}

/** `attest verify FILE …`: the auditor's offline check of an export. */
export async function verifyFile(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = verifyArgs(args);
  const [file] = positionals;
  let sinceTenant: string | null = null;
  if (!fs.existsSync(file)) {
    ctx.err(printable(`attest verify: no such file: ${file}`));
    return EXIT.error;
  }
  const publicKey = values['public-key'] ? readPublicKey(values['public-key']) : undefined;
  let since: { seq: number; chainHash: string } | undefined;
  if (values.since !== undefined) {
    const earlier = await sinceCheckpoint(values.since, publicKey, values['key-id'], !!values['trust-pack-key'], ctx);
    if (typeof earlier === 'number') return earlier;
    since = { seq: earlier.seq, chainHash: earlier.chainHash };
    sinceTenant = earlier.tenant;
  }
  // Incremental marking keeps a server's pauses short; a batch command pauses no one. On the main thread of a pack
  // checked in workers (a 16 MB heap, gigabytes of inflated bytes passing through) it ran 40–70 full collections per
  // million events where 6–7 whole ones do: ~5 % faster for ~10 MB more (bench/README.md "Verify and export, 2026-12-03 12:00").
  // Not for a CSV or --threads 0, where whole collections then come late: 30–130 MB more at the peak.
  if (await packInWorkers(file, !!values.csv, threadsOption(values.threads))) v8.setFlagsFromString('--no-incremental-marking');
  const result = await verifyEvidenceFile(file, {
    genesisTenant: values.genesis,
    prevChainHash: values.prev,
    since,
    publicKey,
    strict: values.strict ? true : values['no-strict'] ? false : undefined,
    tsaCertificatesPem: values['tsa-cert'] !== undefined ? readTsaCertificates(values['tsa-cert']) : undefined,
    viaCsv: !!values.csv,
    threads: threadsOption(values.threads),
  });
  if (!result.ok) {
    // The reason and the summary quote the file (its tenant, its values): never let them drive the terminal.
    ctx.out(printable(`FAIL: ${result.reason}`));
    return EXIT.failed;
  }
  if (sinceTenant !== null && result.tenant !== sinceTenant) {
    ctx.out(printable(`FAIL: --since: the earlier checkpoint is for tenant ${sinceTenant}, the file for ${result.tenant}`));
    return EXIT.failed;
  }
  const unpinned = pinProblem(result, values['key-id'], !!values['trust-pack-key']);
  if (unpinned) {
    ctx.out(printable(unpinned));
    return EXIT.failed;
  }
  ctx.out(printable(describe(file, result, values['key-id'] !== undefined)));
  return EXIT.ok;
}
