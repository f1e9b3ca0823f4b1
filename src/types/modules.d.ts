declare module 'express-hbs' {
  import type { Handlebars } from 'handlebars';
  const hbs: {
    express4(opts: Record<string, unknown>): (path: string, options: object, cb: (err: Error | null, html?: string) => void) => void;
    registerHelper: typeof Handlebars.registerHelper;
    handlebars: typeof Handlebars;
  };
  export default hbs;
}

// node-postgres's own conversion of a JS value to a query parameter (what `client.query` applies to values).
declare module 'pg/lib/utils' {
  export function prepareValue(value: unknown): unknown;
}
