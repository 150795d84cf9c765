// socle.postgresql.pgbackrest: see schemas/pgbackrest.schema.yml. Backups, restores and facts of
// an instance's pgBackRest stanza (the instance module's `pgbackrest` option sets the stanza up).
import { secretPaths, validate, type PgbackrestOptions } from './generated/pgbackrest';
import { runPgbackrest } from './lib/components/pgbackrest/module';
import { main } from './lib/runtime';

main<PgbackrestOptions>({ name: 'pgbackrest', validate, secretPaths, run: runPgbackrest });
