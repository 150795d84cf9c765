// socle.postgresql.database: see schemas/database.schema.yml for the options and their docs.
import { secretPaths, validate, type DatabaseOptions } from './generated/database';
import { reconcileDatabase } from './lib/database/module';
import { prepareDatabaseOptions } from './lib/database/yaml-keys';
import { main } from './lib/runtime';

main<DatabaseOptions>({ name: 'database', validate, secretPaths, prepare: prepareDatabaseOptions, run: reconcileDatabase });
