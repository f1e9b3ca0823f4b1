/**
 * The HTTP shell and everything process-wide, in one place (issue 14 §3): the express app with its middleware,
 * views and static files; atlassian-connect-express started on it; and the registrations that live in module
 * globals (ACE's store adapter, its install-key server read from the environment, pg's type parsers,
 * handlebars helpers). Features never touch these; src/app.ts composes features on the shell this returns.
 */
import path from 'node:path';
import express from 'express';
import hbs from 'express-hbs';
import helmet from 'helmet';
import ace, { AddOn } from 'atlassian-connect-express';
import type { Config } from './config';
import type { AceStore } from './db/ace-store';
import { registerPgTypes } from './db/knex';
import { refuseMalformedJwtClaims, withoutSessionTokens } from './confluence/connect-auth';
import { refuseUnsafeUrlText, requestLogger } from './lib/http';
import { aceLogger, Logger } from './lib/logger';
import type { Metrics } from './ops/metrics';

export const ROOT = path.resolve(__dirname, '..');
export const DESCRIPTOR_FILE = path.join(ROOT, 'atlassian-connect.json');
const STORE_ADAPTER = 'attest-knex';

/**
 * What lives in globals: ACE finds its store by adapter name and reads the install-signing key server from
 * `CONNECT_KEYS_CDN_URL` (config.connectKeysUrl), pg parses dates and bigints for every pool, handlebars has our
 * helpers. Idempotent; the last store registered is the one ACE uses.
 */
export function registerProcessWide(config: Pick<Config, 'connectKeysUrl'>, store: AceStore): void {
  registerPgTypes();
  ace.store.register(STORE_ADAPTER, () => store as never);
  if (config.connectKeysUrl) process.env.CONNECT_KEYS_CDN_URL = config.connectKeysUrl;
  hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
}

/**
 * The app's answers (the iframes' HTML, /api's JSON) hold people's names, comments and decisions: no browser or
 * proxy cache keeps them (a shared computer's disk, an answer shown again after the user lost access to the page).
 * A route may say otherwise after this; /public's files are cached as serve-static says.
 */
const neverStored: express.RequestHandler = (req, res, next) => {
  if (!req.path.startsWith('/public/')) res.set('Cache-Control', 'no-store');
  next();
};

/** Confluence shows our pages in iframes: frame-ancestors says who may, not X-Frame-Options. */
function securityHeaders(config: Config): express.RequestHandler {
  const devOrigin = new URL(config.localBaseUrl).origin;
  return helmet({
    xFrameOptions: false,
    crossOriginEmbedderPolicy: false,
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", 'https://connect-cdn.atl-paas.net'],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'https:'],
        connectSrc: ["'self'"],
        frameSrc: ["'self'"],
        frameAncestors: ["'self'", 'https://*.atlassian.net', ...(config.isProduction ? [] : [devOrigin])],
        formAction: ["'self'"],
        upgradeInsecureRequests: config.isProduction ? [] : null,
      },
    },
  });
}

/**
 * The express app every request goes through before a feature's router: security headers, the request log,
 * metrics, no session tokens, body parsers, the input guards, the views and /public.
 */
export function createHttpShell(config: Config, logger: Logger, metrics: Metrics, first?: { path: string; router: express.Router }): express.Express {
  const app = express();
  // The devhost's Confluence REST API (devhost-api.ts `restRouter`): before every middleware of the app's own.
  if (first) app.use(first.path, first.router);
  // ACE picks its configuration block and defaults (host allow list, descriptor checks) by mode.
  app.set('env', config.isProduction ? 'production' : 'development');
  if (config.isProduction) app.set('trust proxy', true);
  app.disable('x-powered-by');
  // No entity tags: a dynamic answer is never stored (neverStored), so a tag was only a SHA-1 of every body
  // (~0.5 % of a decision's CPU in the app's profile, issue 15). /public keeps serve-static's own.
  app.set('etag', false);
  app.use(securityHeaders(config));
  app.use(requestLogger(logger));
  app.use(metrics.httpMiddleware);
  app.use(withoutSessionTokens);
  app.use(neverStored);
  app.use(express.json({ limit: '256kb' }));
  app.use(express.urlencoded({ extended: false, limit: '64kb' }));
  // Before ACE's routes (it mounts webhooks when configured) and ours: text no store can keep, and JWT claims
  // ACE would look a tenant up by, are refused here, whatever route they were sent to (#12).
  app.use(refuseUnsafeUrlText);
  app.use(refuseMalformedJwtClaims);
  app.engine('hbs', hbs.express4({ defaultLayout: path.join(ROOT, 'views/layout.hbs'), partialsDir: path.join(ROOT, 'views/partials') }));
  app.set('view engine', 'hbs');
  // Compile each template once (Express only turns this on by itself in production).
  app.enable('view cache');
  app.set('views', path.join(ROOT, 'views'));
  app.use('/public', express.static(path.join(ROOT, 'public'), { maxAge: config.isProduction ? '1h' : 0 }));
  app.locals.localBaseUrl = config.localBaseUrl;
  return app;
}

/** atlassian-connect-express on the shell, with our store adapter and without its install route or file watch. */
export function startAddon(app: express.Express, config: Config, logger: Logger): Promise<AddOn> {
  return new Promise<AddOn>((resolve) => {
    const instance: AddOn = ace(
      app,
      {
        config: {
          [app.get('env')]: {
            product: 'confluence',
            localBaseUrl: config.localBaseUrl,
            port: config.port,
            store: { adapter: STORE_ADAPTER },
            watch: false,
            setupInstallRoute: false,
            expressErrorHandling: true,
            validateDescriptor: false,
            ...(config.hostAllowList ? { whitelist: config.hostAllowList } : {}),
          },
        },
      } as never,
      aceLogger(logger) as unknown as Console,
      { descriptorFilename: DESCRIPTOR_FILE, configFileName: path.join(ROOT, 'config.json') },
      () => resolve(instance),
    );
  });
}
