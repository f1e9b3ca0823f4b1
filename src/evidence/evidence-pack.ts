/** The evidence pack's file names and its VERIFY.md (docs/audit-format.md, "Evidence pack"). */
import type { Checkpoint } from './evidence-checkpoint';

export const PACK = {
  events: 'events.csv',
  /** One line per row of events.csv: its hashes, subject and canonical text; every CSV cell follows from it (v4). */
  chain: 'chain.txt',
  manifest: 'manifest.json',
  checkpoint: 'checkpoint.json',
  checkpointMessage: 'checkpoint.msg',
  checkpointSignature: 'checkpoint.sig',
  /** The TSA's RFC 3161 TimeStampToken (DER) over SHA-256(checkpoint.msg), when the checkpoint was timestamped. */
  checkpointTimestamp: 'checkpoint.tst',
  /** Every checkpoint in the pack's seq range, one JSON object per line, each with its TSA token (v3). */
  checkpoints: 'checkpoints.jsonl',
  publicKey: 'public-key.pem',
  /** The SOC 2 report of the pack's space and period (src/report), when the exporter writes one. */
  report: 'report.html',
  guide: 'VERIFY.md',
  sums: 'SHA256SUMS',
  manifestMessage: 'manifest.msg',
  manifestSignature: 'manifest.sig',
} as const;

/**
 * v5 adds the `stage` column to events.csv (19 columns); v4 added chain.txt (what the verifier reads by default; events.csv must be exactly what it derives from it);
 * v3 added checkpoints.jsonl (every checkpoint in range, with its TSA token) and the manifest's `checkpoints`
 * count and `manifestSigned`; v2 added manifest.msg and manifest.sig (the manifest signed with the checkpoint key).
 */
export const PACK_FORMAT = 'attest-evidence-pack-v5';
/** Packs with chain.txt whose events.csv has the 18 columns before `stage`. */
export const PACK_FORMAT_V4 = 'attest-evidence-pack-v4';
/** Packs without chain.txt: the verifier reads their events.csv. */
export const PACK_FORMAT_V3 = 'attest-evidence-pack-v3';
/** Packs with a signed manifest but only the last checkpoint: still read. */
export const PACK_FORMAT_V2 = 'attest-evidence-pack-v2';
/** Packs before the signed manifest: still read, but never "ok" under --strict. */
export const PACK_FORMAT_V1 = 'attest-evidence-pack-v1';

/** What VERIFY.md says of its pack. */
export interface GuideFacts {
  tenant: string;
  checkpoint: Checkpoint | null;
  firstSeq: number | null;
  lastSeq: number | null;
  endedAtCheckpoint: { requestedToSeq: number } | null;
  /** False for a pack the operator's CLI wrote without the private key. */
  manifestSigned?: boolean;
}

/** VERIFY.md: how an auditor checks the pack by hand with sha256sum and openssl. */
export function verifyGuide(p: GuideFacts): string {
  const signed = p.manifestSigned !== false;
  const cp = p.checkpoint;
  const range = p.firstSeq === null ? 'no events' : `seq ${p.firstSeq} to ${p.lastSeq}`;
  const reach = !cp
    ? `No signed checkpoint covers these rows: nothing in this pack is signed, and \`attest verify\` fails it.`
    : cp.seq >= (p.lastSeq ?? 0)
      ? `The signed checkpoint is at seq ${cp.seq}, the last row: every row is covered by the signature.`
      : `The signed checkpoint is at seq ${cp.seq}; rows after it are covered by no signature and \`attest verify\` fails the pack.`;
  const ended = p.endedAtCheckpoint
    ? `\nThe export was asked for events up to seq ${p.endedAtCheckpoint.requestedToSeq}, but no checkpoint covered them when it ran; it ends at\nthe last signed checkpoint (seq ${cp?.seq}) instead. Export again later for the rest.\n`
    : '';
  return `# Verifying this evidence pack

This pack holds the audit events of Attest tenant \`${p.tenant}\` (${range}) as a hash chain
(Attest audit format v1). You can check it without Attest's servers and without trusting its operator.
${reach}
${ended}
## What "ok" proves, and what it does not

\`attest verify\` answers "ok" only when all of this holds:

- every row's hashes recompute from its canonical text, and each row links to the one before it;
- every readable column agrees with the canonical text it was copied from;
- the last row is the one a checkpoint signed with Attest's key records (\`--strict\`, the default for a
  pack): no row after the signature, none cut from the end;
- every checkpoint inside the rows (\`checkpoints.jsonl\`) is signed with that key, signed later than the one
  before it and no earlier than the events it covers, and holds the chain hash of its seq;
${
  signed
    ? `- \`manifest.json\` is signed with the same key, so the filters, row count, seq range and every file's digest
  are the ones Attest wrote, and a row shown by hashes only is one the signed filter hides;`
    : `- \`manifest.json\` is **not** signed (the operator exported without the private key): its filters are the
  exporter's word, so the pack hides no row — and nothing proves it holds every row of its export (rows cut
  from its end would not show), so \`attest verify\` fails it unless you pass \`--no-strict\`;`
}
- a person shown only as a ref was erased: the pack holds the \`subject.erased\` event for that ref.

So "ok" proves that these rows are exactly the tenant's audit events up to the signed checkpoint, as
Attest's key saw them when it signed, and that no row between the first and the last was added, changed,
removed or reordered. It does **not** prove: that no events happened after the checkpoint (a later export
shows them); that the key is Attest's unless you compared it with the key you obtained from the operator
(\`--public-key\`); that the events before the first row exist, unless the pack starts at seq 1 (genesis);
or that history was not rewritten by someone holding the operator's keys. Keep this pack: a later one can be
checked against it (\`attest verify NEW.zip --since THIS.zip --public-key …\`), so a history forked after today
fails even if it is signed.

## The quick way

    attest verify ${'<this-pack>'}.zip --public-key <key-you-obtained-independently>.pem${signed ? '' : ' --no-strict'}

(or \`--key-id <its id>\`; without a pinned key the pack fails unless you pass \`--trust-pack-key\`.${
    signed ? '' : ' This pack\'s manifest is not signed: without `--no-strict` it fails for that alone.'
  })

It recomputes every hash, checks every column against the signed-over canonical text, and checks the
last row against the signed checkpoint and the manifest against its signature. Exit code 0 means the pack
verifies; 1 names the first bad row. The summary always says how far the signatures reach.

`.concat(guideManifestStep(signed), guideCheckpointStep(p), guideChainAndColumns(p));
}

/** Step 1: the files are the ones listed, in a signed manifest (or an unsigned one). */
function guideManifestStep(signed: boolean): string {
  return `## By hand

### 1. The files are the ones listed, in a signed manifest

    sha256sum -c SHA256SUMS
${
  signed
    ? `    sha256sum manifest.json; cat manifest.msg
    openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in manifest.msg -sigfile manifest.sig

Every line of the first must say \`OK\`; line 3 of \`manifest.msg\` must be the SHA-256 of \`manifest.json\`, and
OpenSSL must print \`Signature Verified Successfully\`. \`manifest.json\` lists the same digests as
\`SHA256SUMS\` (and that of \`SHA256SUMS\` itself) with the row count and seq range.`
    : `
Every line must say \`OK\`. This pack's manifest is not signed (\`manifestSigned: false\`): the digests are the
exporter's word, and what ties the rows to Attest's key is the signed checkpoints below.`
}

`;
}

/** Step 2: the checkpoint's signature, and its timestamp when a TSA witnessed it. */
function guideCheckpointStep(p: GuideFacts): string {
  const cp = p.checkpoint;
  return `### 2. The checkpoint is signed by Attest's key
${
  cp
    ? `
\`checkpoint.msg\` is exactly the signed message; \`checkpoint.sig\` is the raw Ed25519 signature.
Compare \`public-key.pem\` with the key your organisation obtained from the Attest operator out of band
(a key inside the pack proves nothing on its own), then:

    cat checkpoint.msg
    openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in checkpoint.msg -sigfile checkpoint.sig

OpenSSL must print \`Signature Verified Successfully\`. The message reads:

    attest-checkpoint-v1
    ${p.tenant}
    ${cp.seq}
    ${cp.chainHash}
    ${cp.signedAt}
${
  cp.timestampToken
    ? `
\`checkpoint.tst\` is a timestamp authority's RFC 3161 token over the SHA-256 of \`checkpoint.msg\`: the TSA, which the
database cannot influence, vouches that this checkpoint existed at its time. With the TSA's certificate
(obtained from the TSA or your operator's configuration, \`tsa.pem\`):

    openssl ts -verify -digest $(sha256sum checkpoint.msg | cut -c1-64) -token_in -in checkpoint.tst -CAfile tsa.pem
    openssl ts -reply -token_in -in checkpoint.tst -token_out -text | grep 'Time stamp'

OpenSSL must print \`Verification: OK\`, and the time stamp must not be before the checkpoint's signed time
(\`attest verify … --tsa-cert tsa.pem\` checks both).
`
    : ''
}`
    : `
This pack carries no signed checkpoint (none covered these rows). The chain below may be internally
consistent, but only a checkpoint or a hash you hold independently ties it to Attest's key.
`
}
`;
}

/** Steps 3 to 6: the chain reaches the checkpoint, a row by hand, the columns, the SOC 2 report. */
function guideChainAndColumns(p: GuideFacts): string {
  const cp = p.checkpoint;
  return `### 3. The chain reaches the checkpoint

\`events.csv\` has one row per event, in seq order, RFC 4180 quoting, CRLF line ends. Its last three columns are
\`chain_hash\`, \`workflow_title\` and \`stage\` (one line each, often empty).${cp ? ` The row with seq ${cp.seq} must carry the chain hash in the checkpoint (line 4 of checkpoint.msg).${p.lastSeq === cp.seq ? " It is the last row, so:\n\n    tail -n 1 events.csv | grep -oE '[0-9a-f]{64},(\"([^\"]|\"\")*\"|[^,\"]*),(\"([^\"]|\"\")*\"|[^,\"]*).$' | head -c 64; echo" : ''}` : ''}

### 4. Recompute a row

Take one row's \`canonical\` cell (the exact text, with CSV's doubled quotes undone — a spreadsheet shows it
that way) and its hashes:

    printf '\\000' > leaf.bin; printf '%s' "$CANONICAL" >> leaf.bin; sha256sum leaf.bin     # = leaf_hash
    hex2bin() { printf "$(printf '%s' "$1" | sed 's/../\\\\x&/g')"; }
    { printf '\\001'; hex2bin "$PREV_CHAIN_HASH"; hex2bin "$LEAF_HASH"; } | sha256sum       # = chain_hash

Each row's \`prev_chain_hash\` is the \`chain_hash\` of the row before. The first event of the tenant (seq 1)
follows the genesis hash:

    printf 'attest-audit-v1\\n%s' '${p.tenant}' | sha256sum

A person is a ref: \`actor_ref\` = SHA-256(salt ‖ accountId), shown beside it while the link exists
(an erased account leaves both cells empty):

    { hex2bin "$ACTOR_SALT"; printf '%s' "$ACTOR_ACCOUNT_ID"; } | sha256sum                 # = actor_ref

### 5. What the columns mean

\`recorded_at\`, \`action\`, \`space_key\`, \`page_id\`, \`page_title\`, \`page_version\`, \`workflow_id\`,
\`actor_ref\`, \`decision\`, \`comment\`, \`workflow_title\` (the Approvals macro's title, when it has one) and
\`stage\` (a staged workflow's place in its page's sequence, "2 of 2") are
copies of fields of \`canonical\`, for reading. A copy that
begins with \`=\`, \`+\`, \`-\`, \`@\`, a tab or a carriage return has a \`'\` in front so that a spreadsheet
shows it as text. Rows with only \`seq\` and the three hashes are events outside this export's filter
(another space, or after its time range up to the checkpoint): they prove no event was left out without
showing it.

### 6. The SOC 2 report

\`report.html\` (when the pack holds one) is the summary an auditor reads first: change management, integrity,
access and recertification for the pack's space and period. It is listed in \`manifest.json\` and \`SHA256SUMS\`
like every other file, so step 1 proves it is the report Attest wrote with these rows. Each of its rows names the
\`seq\` numbers of the events it rests on: find them in \`events.csv\` (events before the pack's first row are in an
export from the start of the trail). It holds no script; open it in any browser, or print it to PDF.
`;
}
