/**
 * The time bounds people give an export or a report, without zod: `attest export` loads this and not the API's
 * schemas (zod alone is ~10 MB of an export's peak memory, issue 15).
 */
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A filter bound: an ISO date (midnight UTC) or an ISO date-time with Z or an offset. Null when it is
 * not one (JavaScript's Date parses far more than ISO-8601; we accept only what we document).
 */
export function parseEvidenceTime(raw: string): Date | null {
  if (!DATE.test(raw) && !DATE_TIME.test(raw)) return null;
  const d = new Date(DATE.test(raw) ? `${raw}T00:00:00Z` : raw);
  if (Number.isNaN(d.getTime())) return null;
  if (DATE.test(raw) && d.toISOString().slice(0, 10) !== raw) return null;
  return d;
}
