// socle.postgresql.patroni: see schemas/patroni.schema.yml. Facts and actions of the Patroni
// cluster of an instance (the instance module's `patroni` option makes the members).
import { secretPaths, validate, type PatroniOptions } from './generated/patroni';
import { runPatroni } from './lib/components/patroni/module';
import { main } from './lib/runtime';

main<PatroniOptions>({ name: 'patroni', validate, secretPaths, run: runPatroni });
