import { migrateLatest } from '../db/knex';
import { CliCommand, EXIT, parseCommandArgs, withDatabase } from './command';

export const migrateCommand: CliCommand = {
  summary: 'apply pending database migrations',
  usage: 'attest migrate\n\nApplies pending migrations to DATABASE_URL (or the embedded database in DATA_DIR).',
  async run(args, ctx) {
    parseCommandArgs('migrate', args, {});
    const applied = await withDatabase(ctx, migrateLatest);
    ctx.out(applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'database schema is up to date');
    return EXIT.ok;
  },
};
