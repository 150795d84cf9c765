// socle.postgresql.instance: see schemas/instance.schema.yml for the options and their docs.
import { secretPaths, validate, type InstanceOptions } from './generated/instance';
import { prepareInstanceOptions } from './lib/database/yaml-keys';
import { reconcileInstance } from './lib/instance/reconcile';
import { main } from './lib/runtime';

main<InstanceOptions>({ name: 'instance', validate, secretPaths, prepare: prepareInstanceOptions, run: reconcileInstance });
