// The registration list of the instance's components, in lifecycle order (see
// modules/lib/instance/component.ts): the order of this list is the order in which their checks,
// parameters, files, services and SQL run, and in which they show in the plan (drop: reverse).
//   pgbackrest   first: a standby whose stanza has a backup is restored from the repository,
//                ahead of replication's base backup; its sql creates the backup role and the stanza
//   replication  then: it may provision the data directory (a standby) and promotes before
//                anything is written into the instance
//   roles        before the databases, which may be owned by them
//   databases
//   prometheus   postgres_exporter; after the roles and databases (its role is made in its own sql phase)
//   temboard     the temBoard agent; likewise
//   powa         PoWA's libraries, role and database (its role and database made in its own sql phase)
//   logging      logging presets: parameters only
//   dumps        the databases' scheduled dumps, removed with the instance
//   patroni      runs the server (its Service replaces the instance's) and provisions members
//   temboard_console  the temBoard console on its repository instance (its role and database in its own sql phase)
// A satellite adds its folder here and its schema in schemas/components/; nothing else changes.
import type { InstanceComponent } from '../instance/component';
import { databasesComponent } from './databases';
import { dumpsComponent } from './dumps';
import { pgbackrestComponent } from './pgbackrest';
import { prometheusComponent } from './prometheus';
import { replicationComponent } from './replication';
import { rolesComponent } from './roles';
import { temboardComponent } from './temboard';
import { powaComponent } from './powa';
import { loggingComponent } from './logging';
import { patroniComponent } from './patroni';
import { temboardConsoleComponent } from './temboard-console';

export const COMPONENTS: InstanceComponent[] = [
  pgbackrestComponent, replicationComponent, rolesComponent, databasesComponent, prometheusComponent, temboardComponent, powaComponent, loggingComponent,
  dumpsComponent, patroniComponent, temboardConsoleComponent,
];
