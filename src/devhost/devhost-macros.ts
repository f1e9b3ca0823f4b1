/** Reading and rewriting Connect macros in Confluence storage format, and filling module URL templates. */

export interface StoredMacro {
  name: string;
  macroId: string;
  params: Record<string, string>;
}

export type BodySegment = { kind: 'text'; text: string } | { kind: 'macro'; macro: StoredMacro };

const MACRO_RE = /<ac:structured-macro\b([^>]*)>([\s\S]*?)<\/ac:structured-macro>/g;
const PARAM_RE = /<ac:parameter\s+ac:name="([^"]*)"\s*>([\s\S]*?)<\/ac:parameter>/g;

function attr(attrs: string, name: string): string {
  const m = new RegExp(`${name.replace(':', '\\:')}="([^"]*)"`).exec(attrs);
  return m ? decodeXml(m[1]) : '';
}

export function decodeXml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&');
}

export function encodeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function parseMacro(attrs: string, inner: string): StoredMacro {
  const params: Record<string, string> = {};
  for (const m of inner.matchAll(PARAM_RE)) params[m[1]] = decodeXml(m[2]);
  return { name: attr(attrs, 'ac:name'), macroId: attr(attrs, 'ac:macro-id'), params };
}

/** Every structured macro with the given name, in document order. */
export function macrosIn(storage: string, name: string): StoredMacro[] {
  return [...storage.matchAll(MACRO_RE)].map((m) => parseMacro(m[1], m[2])).filter((m) => m.name === name);
}

function textOf(storage: string): string {
  return decodeXml(storage.replace(/<\/(p|h\d|li|tr)>/g, '\n').replace(/<[^>]+>/g, ''))
    .replace(/[ \t]+/g, ' ')
    .trim();
}

/** The body as alternating plain text and macros of the given name (other macros are dropped). */
export function segmentsOf(storage: string, name: string): BodySegment[] {
  const out: BodySegment[] = [];
  let at = 0;
  for (const m of storage.matchAll(MACRO_RE)) {
    const text = textOf(storage.slice(at, m.index));
    if (text) out.push({ kind: 'text', text });
    const macro = parseMacro(m[1], m[2]);
    if (macro.name === name) out.push({ kind: 'macro', macro });
    at = (m.index ?? 0) + m[0].length;
  }
  const rest = textOf(storage.slice(at));
  if (rest) out.push({ kind: 'text', text: rest });
  return out;
}

/** Replaces the parameters of one macro (by macro id); `null` if the body has no such macro. */
export function replaceMacroParams(storage: string, macroId: string, params: Record<string, string>): string | null {
  let found = false;
  const next = storage.replace(MACRO_RE, (whole, attrs: string) => {
    if (attr(attrs, 'ac:macro-id') !== macroId) return whole;
    found = true;
    const ps = Object.entries(params)
      .filter(([, v]) => v !== '')
      .map(([k, v]) => `<ac:parameter ac:name="${encodeXml(k)}">${encodeXml(v)}</ac:parameter>`)
      .join('');
    return `<ac:structured-macro${attrs}>${ps}</ac:structured-macro>`;
  });
  return found ? next : null;
}

/**
 * Fills a module URL template the way Confluence does: `{page.id}`, `{macro.id}`, `{approvers}`…
 * are replaced by URL-encoded values; unknown variables become empty strings.
 */
export function fillTemplate(template: string, vars: Record<string, string | number | undefined>): string {
  return template.replace(/\{([A-Za-z0-9_.-]+)\}/g, (_m, name: string) => {
    const v = vars[name];
    return v === undefined || v === null ? '' : encodeURIComponent(String(v));
  });
}
