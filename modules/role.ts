// socle.postgresql.role: see schemas/role.schema.yml for the options and their docs.
import { secretPaths, validate, type RoleOptions } from './generated/role';
import { reconcileRole } from './lib/role/module';
import { main } from './lib/runtime';

main<RoleOptions>({ name: 'role', validate, secretPaths, run: reconcileRole });
