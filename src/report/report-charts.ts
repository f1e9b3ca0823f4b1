/** The report's charts: inline SVG (no scripts), each with a title and description; their data is also a table. */
import { DAY_MS } from '../approvals/approval-rules';
import { Html, html } from './html';
import { day, formatDuration, quantile, type WeekBucket } from './report-types';

export const W = 720;
const H = 220;
const PAD = { l: 44, r: 12, t: 16, b: 40 };

function axis(max: number, unit: string): Html {
  const ticks = [0, 0.5, 1].map((f) => {
    const y = PAD.t + (1 - f) * (H - PAD.t - PAD.b);
    const v = max * f;
    return html`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y}" y2="${y}" class="grid"/><text x="${PAD.l - 4}" y="${y + 4}" text-anchor="end">${Number.isInteger(v) ? v : v.toFixed(1)}${unit}</text>`;
  });
  return html`${ticks}`;
}

function weekLabels(weeks: WeekBucket[], x: (i: number) => number): Html {
  const every = Math.max(1, Math.ceil(weeks.length / 8));
  return html`${weeks.map((w, i) => (i % every === 0 ? html`<text x="${x(i)}" y="${H - PAD.b + 16}" text-anchor="middle">${day(w.start).slice(5)}</text>` : ''))}`;
}

function svg(id: string, title: string, desc: string, body: Html): Html {
  return html`<svg role="img" aria-labelledby="${id}-t ${id}-d" viewBox="0 0 ${W} ${H}" width="100%" preserveAspectRatio="xMidYMid meet" class="chart"><title id="${id}-t">${title}</title><desc id="${id}-d">${desc}</desc>${body}</svg>`;
}

export function decisionsChart(weeks: WeekBucket[]): Html {
  const max = Math.max(1, ...weeks.map((w) => w.approve + w.reject));
  const slot = (W - PAD.l - PAD.r) / Math.max(1, weeks.length);
  const x = (i: number) => PAD.l + slot * (i + 0.5);
  const h = (n: number) => (n / max) * (H - PAD.t - PAD.b);
  const bars = weeks.map((w, i) => {
    const ha = h(w.approve);
    const hr = h(w.reject);
    const bw = Math.max(2, slot * 0.7);
    const base = H - PAD.b;
    return html`<g><title>Week of ${day(w.start)}: ${w.approve} approvals, ${w.reject} rejections</title><rect class="approve" x="${x(i) - bw / 2}" y="${base - ha}" width="${bw}" height="${ha}"/><rect class="reject" x="${x(i) - bw / 2}" y="${base - ha - hr}" width="${bw}" height="${hr}"/></g>`;
  });
  const total = weeks.reduce((n, w) => n + w.approve + w.reject, 0);
  return svg('chart-decisions', 'Decisions per week', `${total} decisions in the period; approvals (green) and rejections (red) stacked per week starting Monday, UTC.`, html`${axis(max, '')}${bars}${weekLabels(weeks, x)}`);
}

export function approvalTimeChart(weeks: WeekBucket[]): Html {
  const stats = weeks.map((w) => {
    const s = [...w.approvalMs].sort((a, b) => a - b);
    return { median: quantile(s, 0.5), p90: quantile(s, 0.9) };
  });
  const maxDays = Math.max(1, ...stats.map((s) => (s.p90 ?? 0) / DAY_MS));
  const slot = (W - PAD.l - PAD.r) / Math.max(1, weeks.length);
  const x = (i: number) => PAD.l + slot * (i + 0.5);
  const y = (ms: number) => H - PAD.b - (ms / DAY_MS / maxDays) * (H - PAD.t - PAD.b);
  const bw = Math.max(2, slot * 0.35);
  const bars = stats.map((s, i) =>
    s.median === null
      ? ''
      : html`<g><title>Week of ${day(weeks[i].start)}: median ${formatDuration(s.median)}, p90 ${formatDuration(s.p90!)}</title><rect class="median" x="${x(i) - bw}" y="${y(s.median)}" width="${bw}" height="${H - PAD.b - y(s.median)}"/><rect class="p90" x="${x(i)}" y="${y(s.p90!)}" width="${bw}" height="${H - PAD.b - y(s.p90!)}"/></g>`,
  );
  return svg('chart-approval-time', 'Time from request to approval', 'Median (dark) and 90th percentile (light) in days, per week of approval.', html`${axis(maxDays, ' d')}${bars}${weekLabels(weeks, x)}`);
}

export function overdueChart(weeks: WeekBucket[]): Html {
  const max = Math.max(1, ...weeks.map((w) => w.overdueOpen));
  const slot = (W - PAD.l - PAD.r) / Math.max(1, weeks.length);
  const x = (i: number) => PAD.l + slot * (i + 0.5);
  const y = (n: number) => H - PAD.b - (n / max) * (H - PAD.t - PAD.b);
  const points = weeks.map((w, i) => `${x(i).toFixed(1)},${y(w.overdueOpen).toFixed(1)}`).join(' ');
  const dots = weeks.map((w, i) => html`<circle cx="${x(i)}" cy="${y(w.overdueOpen)}" r="3" class="overdue"><title>End of week of ${day(w.start)}: ${w.overdueOpen} overdue</title></circle>`);
  return svg('chart-overdue', 'Overdue reviews over time', 'Reviews past their due date and not approved, counted at the end of each week.', html`${axis(max, '')}<polyline class="overdue" fill="none" points="${points}"/>${dots}${weekLabels(weeks, x)}`);
}

