// socle.postgresql.instance_info: the facts of an existing instance, read-only (pglift's dsn_info).
import { secretPaths, validate, type InstanceInfoOptions } from './generated/instance_info';
import { patroniInfo } from './lib/components/patroni';
import { pgbackrestInfo } from './lib/components/pgbackrest/site';
import { replicationInfo } from './lib/components/replication/facts';
import { instanceInfo } from './lib/instance/info';
import { main } from './lib/runtime';
import { loadSettings } from './lib/settings';

main<InstanceInfoOptions>({ name: 'instance_info', validate, secretPaths, run: instanceInfo({ replication: replicationInfo, pgbackrest: (_conn, l) => pgbackrestInfo(loadSettings(), l), patroni: (_conn, l) => patroniInfo(loadSettings(), l) }) });
