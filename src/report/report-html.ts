/**
 * The SOC 2 report as one self-contained HTML file: no scripts, no external resources (its own CSP says so),
 * charts as inline SVG each followed by its data as a table, print styles. Pure: a model in, text out.
 * Every row carries `data-seqs` (and shows the seq numbers) of the audit events it rests on.
 */
import { Html, html } from './html';
import { approvalTimeChart, decisionsChart, overdueChart, W } from './report-charts';
import { day, formatDuration } from './report-types';
import { EXCEPTION_LABELS, quantile, ReportException, ReportModel } from './report-model';

export interface IntegrityFacts {
  /** The chain as the report read it: seq 1 to `lastSeq`, recomputed and linked from genesis. */
  chain: { rows: number; lastSeq: number | null; ok: boolean; failure: { seq: number; reason: string } | null };
  /** Checkpoints from the period's first event to the one covering its end. */
  checkpoints: Array<{ seq: number; signedAt: string; keyId: string; signatureValid: boolean | null; chainHashMatches: boolean | null; timestamped: boolean }>;
  /** The checkpoint key's id (SHA-256 fingerprint of its public key), null when the report was made without it. */
  keyId: string | null;
}

export interface ReportMeta {
  tenant: string;
  /** What the report covers, in words, e.g. "space ENG" or "every space". */
  scopeLabel: string;
  generatedAt: Date;
  /** False when the period's start is the chain's start (no --from). */
  fromGiven: boolean;
}

const iso = (t: number) => new Date(t).toISOString().replace('.000Z', 'Z');
const seqList = (seqs: readonly number[]) => seqs.join(', ');
const seqCell = (seqs: readonly number[]) => html`<td class="seqs">${seqList(seqs)}</td>`;

function pageCell(w: { pageTitle: string | null; workflowTitle: string | null; pageId: string | null; space: string | null }): Html {
  return html`<td>${w.pageTitle ?? `page ${w.pageId ?? '?'}`}${w.workflowTitle ? html` <span class="sub">(${w.workflowTitle})</span>` : ''}<br><span class="sub">${w.space ?? ''} · page ${w.pageId ?? '?'}</span></td>`;
}

function exceptionRow(x: ReportException): Html {
  const closed = x.closedAt === null ? html`<strong>still open</strong> at the period's end` : html`${iso(x.closedAt)} (${x.closedBy})`;
  return html`<tr data-kind="${x.kind}" data-workflow="${x.workflow.id}" data-opened="${iso(x.openedAt)}" data-closed="${x.closedAt === null ? '' : iso(x.closedAt)}" data-open-ms="${x.openMs}" data-seqs="${x.seqs.join(' ')}">
<td>${EXCEPTION_LABELS[x.kind]}</td>${pageCell(x.workflow)}<td>${iso(x.openedAt)}</td><td>${closed}</td><td>${formatDuration(x.openMs)}</td>${seqCell(x.seqs)}</tr>`;
}

// ---- charts: inline SVG, each with a title and description, and a data table after it ----

const STYLE = `
:root{color-scheme:light}
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#172b4d;margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 8px;border-bottom:2px solid #dfe1e6;padding-bottom:4px}h3{font-size:15px;margin:20px 0 6px}
.sub{color:#5e6c84;font-size:12px}.meta{color:#42526e}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #c1c7d0;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f4f5f7}
td.seqs,td.num{font-variant-numeric:tabular-nums;white-space:nowrap}td.num{text-align:right}
.figures{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}.figure{border:1px solid #c1c7d0;border-radius:4px;padding:8px 12px;min-width:120px}
.figure b{display:block;font-size:22px}
.ok{color:#006644;font-weight:bold}.bad{color:#bf2600;font-weight:bold}
code,pre{font-family:SFMono-Regular,Consolas,monospace;font-size:12px}pre{background:#f4f5f7;padding:8px;white-space:pre-wrap}
svg.chart{max-width:${W}px;display:block;margin:8px 0}svg text{font-size:11px;fill:#42526e}svg .grid{stroke:#dfe1e6}
svg .approve{fill:#36b37e}svg .reject{fill:#de350b}svg .median{fill:#0747a6}svg .p90{fill:#79a6e8}svg polyline.overdue{stroke:#ff8b00;stroke-width:2}svg circle.overdue{fill:#ff8b00}
.legend span{display:inline-block;margin-right:12px}.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
@media print{body{margin:0;max-width:none;font-size:11px}h2{break-after:avoid}tr,svg,.figure{break-inside:avoid}thead{display:table-header-group}a{color:inherit;text-decoration:none}}
`;

/** The whole report. */
export function renderReport(model: ReportModel, integrity: IntegrityFacts, meta: ReportMeta): string {
  const { from, to } = model.scope;
  const body = html`
${headerHtml(model, meta)}
<nav aria-label="Sections"><ul>
<li><a href="#change-management">Change management (CC8.1)</a></li>
<li><a href="#integrity">Logging and integrity (CC7.2, PI1.1)</a></li>
<li><a href="#access">Access (CC6.1)</a></li>
<li><a href="#recertification">Recertification</a></li>
<li><a href="#charts">Charts</a></li>
</ul></nav>

<main>
${changeManagementSection(model)}
${integritySection(integrity)}
${accessSection(model)}
${recertificationSection(model)}
${chartsSection(model)}
</main>
<footer><p class="sub">Made by Attest from the audit trail alone. A PDF is not produced: print this page to PDF from a browser if one is needed (the print styles keep tables and charts whole); the HTML file is what the pack's signature covers.</p></footer>`;

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${html`SOC 2 evidence report — ${meta.scopeLabel} — ${day(from)} to ${day(to)}`}</title>
<style>${STYLE}</style>
</head>
<body>${body}
</body>
</html>
`;
}

function headerHtml(model: ReportModel, meta: ReportMeta): Html {
  const { from, to } = model.scope;
  const future = to > meta.generatedAt.getTime() ? '; it runs past the time of this report, so what is open is measured up to that time' : '';
  const periodText = `${meta.fromGiven ? iso(from) : `the start of the audit trail (${iso(from)})`} to ${iso(to)} (end exclusive${future})`;
  return html`<header>
<h1>SOC 2 evidence report — ${meta.scopeLabel}</h1>
<p class="meta">Attest tenant <code>${meta.tenant}</code> · period ${periodText} · generated ${meta.generatedAt.toISOString()}</p>
<p class="meta">Every row names the audit events (seq numbers) it rests on. Look them up in the evidence export
(<code>events.csv</code>, column <code>seq</code>) of the same tenant; <code>attest verify</code> proves those rows are the signed audit trail.
People appear as in the export: their Atlassian account id while the link exists, otherwise their ref.</p>
${model.periodSeqs ? html`<p class="meta" id="period-seqs" data-first="${model.periodSeqs.first}" data-last="${model.periodSeqs.last}">Events in the period: seq ${model.periodSeqs.first} to ${model.periodSeqs.last}.</p>` : html`<p class="meta" id="period-seqs">No events of this scope were recorded in the period.</p>`}
</header>`;
}

/** CC8.1: the exceptions first, then every approvals page at the period's end. */
function changeManagementSection(model: ReportModel): Html {
  const ex = model.exceptions;
  const byKind = (k: string) => ex.filter((x) => x.kind === k).length;
  return html`<section id="change-management" aria-labelledby="h-cm">
<h2 id="h-cm">Change management (CC8.1)</h2>
<div class="figures">
<div class="figure" data-figure="exceptions"><b>${ex.length}</b>exceptions in the period</div>
<div class="figure" data-figure="changed-after-approval"><b>${byKind('changed-after-approval') + byKind('changed-kept-by-policy')}</b>changed after approval</div>
<div class="figure" data-figure="approval-expired"><b>${byKind('approval-expired')}</b>approvals expired</div>
<div class="figure" data-figure="rejected"><b>${byKind('rejected')}</b>rejected</div>
<div class="figure" data-figure="review-overdue"><b>${byKind('review-overdue')}</b>reviews overdue</div>
</div>
<h3 id="h-exceptions">Exceptions</h3>
<p class="sub">Open at any time in the period; still-open ones first, then the longest open. An overdue review starts the day after its due date and rests on the event that set that date.</p>
<table id="exceptions" aria-labelledby="h-exceptions"><thead><tr><th scope="col">Exception</th><th scope="col">Page</th><th scope="col">Opened</th><th scope="col">Closed</th><th scope="col">Open for</th><th scope="col">Audit seq</th></tr></thead>
<tbody>${ex.length ? ex.map((x) => exceptionRow(x)) : html`<tr><td colspan="6">No exceptions in the period.</td></tr>`}</tbody></table>

<h3 id="h-approvals">Approvals pages at the period's end</h3>
<table id="approvals" aria-labelledby="h-approvals"><thead><tr><th scope="col">Page</th><th scope="col">State</th><th scope="col">Version approved</th><th scope="col">Approved by</th><th scope="col">Approved at</th><th scope="col">Audit seq</th></tr></thead>
<tbody>${
    model.approvals.length
      ? model.approvals.map(
          (a) => html`<tr data-workflow="${a.workflow.id}" data-state="${a.state}" data-state-seq="${a.stateSeq}" data-approved-seq="${a.approvedSeq ?? ''}" data-seqs="${a.seqs.join(' ')}">
${pageCell(a.workflow)}<td>${a.state}</td><td class="num">${a.approvedVersion ?? '—'}</td><td>${a.approvers.length ? a.approvers.map((p, i) => html`${i ? html`<br>` : ''}${p.who} <span class="sub">${iso(p.at)}</span>`) : '—'}</td><td>${a.approvedAt === null ? '—' : iso(a.approvedAt)}</td>${seqCell(a.seqs)}</tr>`,
        )
      : html`<tr><td colspan="6">No approvals pages in scope.</td></tr>`
  }</tbody></table>
</section>`;
}

/** CC7.2, PI1.1: the chain's check, the checkpoints over the period, and how to re-check. */
function integritySection(integrity: IntegrityFacts): Html {
  const cps = integrity.checkpoints;
  const lastCp = cps[cps.length - 1] ?? null;
  const chainOk = integrity.chain.ok;
  return html`<section id="integrity" aria-labelledby="h-int">
<h2 id="h-int">Logging and integrity (CC7.2, PI1.1)</h2>
<p id="chain-result" data-ok="${chainOk}" data-rows="${integrity.chain.rows}" data-last-seq="${integrity.chain.lastSeq ?? ''}">${
    chainOk
      ? html`<span class="ok">Verified.</span> All ${integrity.chain.rows} audit events of the tenant from seq 1 to seq ${integrity.chain.lastSeq ?? 0} recompute from their canonical text and link from the genesis hash (every space's events count: the chain is one per tenant).`
      : html`<span class="bad">Does not verify</span> at seq ${integrity.chain.failure?.seq}: ${integrity.chain.failure?.reason}. Nothing in this report can be relied on until this is investigated (<code>attest verify --db</code>).`
  }</p>
<div class="figures">
<div class="figure" data-figure="checkpoints"><b>${cps.length}</b>checkpoints signed over the period</div>
<div class="figure" data-figure="checkpoints-valid"><b>${cps.filter((c) => c.signatureValid && c.chainHashMatches !== false).length}</b>verified against the key and chain</div>
</div>
<p>Checkpoint key fingerprint (key id): <code id="key-id">${integrity.keyId ?? 'not available to this report'}</code>. Compare it with the id on the Evidence tab or the add-on's <code>/checkpoint-key</code>, never with a key inside a pack.</p>
<table id="checkpoints" aria-label="Checkpoints"><thead><tr><th scope="col">Checkpoint at seq</th><th scope="col">Signed at</th><th scope="col">Key id</th><th scope="col">Signature</th><th scope="col">Chain hash</th><th scope="col">RFC 3161 timestamp</th></tr></thead>
<tbody>${
    cps.length
      ? cps.map(
          (c) => html`<tr data-seqs="${c.seq}"><td class="seqs">${c.seq}</td><td>${c.signedAt}</td><td><code>${c.keyId}</code></td><td>${c.signatureValid === null ? 'not checked (no key)' : c.signatureValid ? 'valid' : html`<span class="bad">invalid</span>`}</td><td>${c.chainHashMatches === null ? 'beyond the rows read' : c.chainHashMatches ? 'matches the chain' : html`<span class="bad">differs</span>`}</td><td>${c.timestamped ? 'yes' : 'no'}</td></tr>`,
        )
      : html`<tr><td colspan="6">No checkpoint was signed over the period: these events are covered by no signature yet.</td></tr>`
  }</tbody></table>
<h3>How to re-check</h3>
<pre>attest verify evidence-pack.zip --key-id ${integrity.keyId ?? 'KEY_ID'}${lastCp ? `\n# the pack's last row must be the checkpoint at seq ${lastCp.seq}` : ''}</pre>
<p class="sub">Export the pack for the same space and period from the Evidence tab (this report is in it as <code>report.html</code>, listed in the signed manifest). The verifier recomputes every hash, checks each checkpoint's signature and the manifest's, and says how far the signatures reach; <code>VERIFY.md</code> in the pack shows the same checks with <code>sha256sum</code> and <code>openssl</code>.</p>
</section>`;
}

/** CC6.1: settings in force, their changes in the period, and who may approve. */
function accessSection(model: ReportModel): Html {
  return html`<section id="access" aria-labelledby="h-acc">
<h2 id="h-acc">Access (CC6.1)</h2>
<h3 id="h-settings">Space settings in force at the period's end</h3>
${model.access.spaces.map(
    (s) => html`<table class="settings" data-space="${s.space}" data-seqs="${s.settingsSeq ?? ''}" aria-label="Settings of space ${s.space}"><caption>Space ${s.space}${s.settingsSeq !== null ? html` — from audit seq ${s.settingsSeq}` : ''}</caption>
<tbody>${
      s.settings
        ? Object.entries(s.settings).map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${v}</td></tr>`)
        : html`<tr><td>No settings change is recorded up to the period's end: the space runs on Attest's defaults (shown in Space settings → Attest).</td></tr>`
    }</tbody></table>`,
  )}
<h3 id="h-changes">Settings changes in the period</h3>
<table id="settings-changes" aria-labelledby="h-changes"><thead><tr><th scope="col">When</th><th scope="col">Space</th><th scope="col">Who</th><th scope="col">Setting</th><th scope="col">Before</th><th scope="col">After</th><th scope="col">Audit seq</th></tr></thead>
<tbody>${
    model.access.changes.length
      ? model.access.changes.flatMap((c) =>
          c.fields.map(
            (f) => html`<tr data-seqs="${c.seq}" data-field="${f.field}"><td>${iso(c.at)}</td><td>${c.space ?? ''}</td><td>${c.who}</td><td>${f.field}</td><td>${f.before}</td><td>${f.after}</td>${seqCell([c.seq])}</tr>`,
          ),
        )
      : html`<tr><td colspan="7">No settings changed in the period.</td></tr>`
  }</tbody></table>
<h3 id="h-approvers">Who may approve (at the period's end)</h3>
<table id="approvers" aria-labelledby="h-approvers"><thead><tr><th scope="col">Page</th><th scope="col">Rule</th><th scope="col">Approvers</th><th scope="col">Groups</th><th scope="col">Audit seq</th></tr></thead>
<tbody>${
    model.access.approvers.length
      ? model.access.approvers.map(
          (a) => html`<tr data-workflow="${a.workflow.id}" data-seqs="${a.seq}">${pageCell(a.workflow)}<td>${a.rule}</td><td>${a.approvers.join(', ') || '—'}</td><td>${a.groups.join(', ') || '—'}</td>${seqCell([a.seq])}</tr>`,
        )
      : html`<tr><td colspan="5">No approvals pages in scope.</td></tr>`
  }</tbody></table>
<p class="sub">Approvers are the configuration in the audit trail; a group's members are Confluence's at the time of each decision (each decision event records the groups it came through).</p>
</section>`;
}

function recertificationSection(model: ReportModel): Html {
  const recertCount = (o: string) => model.recert.filter((r) => r.outcome === o).length;
  return html`<section id="recertification" aria-labelledby="h-rec">
<h2 id="h-rec">Recertification (scheduled review)</h2>
<div class="figures">
<div class="figure" data-figure="recert-due"><b>${model.recert.length}</b>reviews due in the period</div>
<div class="figure" data-figure="recert-on-time"><b>${recertCount('on time')}</b>done on time</div>
<div class="figure" data-figure="recert-late"><b>${recertCount('late')}</b>done late</div>
<div class="figure" data-figure="recert-missed"><b>${recertCount('missed')}</b>missed (not done by the period's end)</div>
</div>
<p class="sub">A review falls due a page's review interval after its approval. On time: approved again before it lapsed; late: approved again after it expired; missed: not approved again by the period's end.</p>
<table id="recert" aria-label="Reviews due"><thead><tr><th scope="col">Page</th><th scope="col">Approved</th><th scope="col">Interval</th><th scope="col">Due</th><th scope="col">Outcome</th><th scope="col">Done</th><th scope="col">Late by</th><th scope="col">Audit seq</th></tr></thead>
<tbody>${
    model.recert.length
      ? model.recert.map(
          (r) => html`<tr data-outcome="${r.outcome}" data-workflow="${r.workflow.id}" data-due="${iso(r.dueAt)}" data-late-ms="${r.lateMs ?? ''}" data-seqs="${r.seqs.join(' ')}">${pageCell(r.workflow)}<td>${iso(r.approvedAt)}</td><td class="num">${r.reviewDays} d</td><td>${iso(r.dueAt)}</td><td>${r.outcome}</td><td>${r.doneAt === null ? '—' : iso(r.doneAt)}</td><td>${r.lateMs === null ? '—' : formatDuration(r.lateMs)}</td>${seqCell(r.seqs)}</tr>`,
        )
      : html`<tr><td colspan="8">No review fell due in the period.</td></tr>`
  }</tbody></table>
</section>`;
}

function chartsSection(model: ReportModel): Html {
  const rta = [...model.requestToApproval].sort((a, b) => a.ms - b.ms);
  const median = quantile(rta.map((r) => r.ms), 0.5);
  const p90 = quantile(rta.map((r) => r.ms), 0.9);
  return html`<section id="charts" aria-labelledby="h-charts">
<h2 id="h-charts">Charts</h2>
<h3>Decisions per week</h3>
<p class="legend"><span><i class="sw" style="background:#36b37e"></i>approvals</span><span><i class="sw" style="background:#de350b"></i>rejections</span></p>
${decisionsChart(model.weeks)}
<h3>Time from request to approval</h3>
<div class="figures">
<div class="figure" data-figure="approvals-timed"><b>${rta.length}</b>approvals in the period</div>
<div class="figure" data-figure="rta-median" data-ms="${median ?? ''}"><b>${median === null ? '—' : formatDuration(median)}</b>median</div>
<div class="figure" data-figure="rta-p90" data-ms="${p90 ?? ''}"><b>${p90 === null ? '—' : formatDuration(p90)}</b>90th percentile</div>
</div>
<p class="sub">From the event that opened the round (the workflow's creation, the page change or the expiry that started it) to the approval; nearest-rank percentiles.</p>
<p class="legend"><span><i class="sw" style="background:#0747a6"></i>median</span><span><i class="sw" style="background:#79a6e8"></i>90th percentile</span></p>
${approvalTimeChart(model.weeks)}
<table id="request-to-approval" aria-label="Request to approval, each approval"><thead><tr><th scope="col">Requested (seq)</th><th scope="col">Approved (seq)</th><th scope="col">Took</th><th scope="col">Audit seq</th></tr></thead>
<tbody>${rta.map((r) => html`<tr data-ms="${r.ms}" data-seqs="${r.fromSeq} ${r.toSeq}"><td class="seqs">${r.fromSeq}</td><td class="seqs">${r.toSeq}</td><td>${formatDuration(r.ms)}</td>${seqCell([r.fromSeq, r.toSeq])}</tr>`)}</tbody></table>
<h3>Overdue reviews over time</h3>
${overdueChart(model.weeks)}
${weeksTable(model.weeks)}
</section>`;
}

/** The charts' data as a table: what a screen reader, a printout and an auditor's spreadsheet can use. */
function weeksTable(weeks: ReportModel['weeks']): Html {
  return html`<h3 id="h-weeks">The charts' data, per week (Monday, UTC)</h3>
<table id="weeks" aria-labelledby="h-weeks"><thead><tr><th scope="col">Week of</th><th scope="col">Approvals</th><th scope="col">Rejections</th><th scope="col">Median to approval</th><th scope="col">p90 to approval</th><th scope="col">Overdue at week's end</th><th scope="col">Audit seq</th></tr></thead>
<tbody>${weeks.map((w) => {
    const s = [...w.approvalMs].sort((a, b) => a - b);
    const m = quantile(s, 0.5);
    const p = quantile(s, 0.9);
    // A busy week names its decisions by range (exactly the scope's decision events between the two seqs).
    const listed = w.decisionSeqs.length === w.approve + w.reject;
    const seqs = [...new Set([...(listed ? w.decisionSeqs : []), ...w.approvalSeqs, ...w.overdueSeqs])].sort((a, b) => a - b);
    const range = w.decisionRange;
    return html`<tr data-week="${day(w.start)}" data-approve="${w.approve}" data-reject="${w.reject}" data-overdue="${w.overdueOpen}" data-decision-range="${range ? range.join(' ') : ''}" data-decision-seqs="${listed ? w.decisionSeqs.join(' ') : ''}" data-seqs="${seqs.join(' ')}"><td>${day(w.start)}</td><td class="num">${w.approve}</td><td class="num">${w.reject}</td><td>${m === null ? '—' : formatDuration(m)}</td><td>${p === null ? '—' : formatDuration(p)}</td><td class="num">${w.overdueOpen}</td><td class="seqs">${listed ? seqList(seqs) : html`decisions: every decision event of this scope from seq ${range![0]} to ${range![1]}${seqs.length ? html`; ${seqList(seqs)}` : ''}`}</td></tr>`;
  })}</tbody></table>`;
}
