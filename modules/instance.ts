// socle.postgresql.instance: see schemas/instance.schema.yml (and schemas/components/) for the
// options and their docs. The instance core with its registered components.
import { secretPaths, validate, type InstanceOptions } from './generated/instance';
import { COMPONENTS } from './lib/components';
import { prepareInstanceOptions } from './lib/database/yaml-keys';
import { reconcileInstance } from './lib/instance/reconcile';
import { main } from './lib/runtime';

main<InstanceOptions>({ name: 'instance', validate, secretPaths, prepare: prepareInstanceOptions, run: reconcileInstance(COMPONENTS) });
