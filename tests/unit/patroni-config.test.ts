// The Patroni member's YAML (no process here): passwords read back exactly whatever their
// characters, Patroni's own parameters left out, cluster-wide ones in bootstrap.dcs.
import { load } from 'js-yaml';
import type { ComponentContext } from '../../modules/lib/instance/component';
import { validate as validateSettings, type Settings } from '../../modules/generated/settings';
import { configText, memberFiles, splitParameters } from '../../modules/lib/components/patroni/site';
import { resolveSettings } from '../../modules/lib/settings';

function context(passwords: { su: string; repl: string; api: string; etcd: string }): ComponentContext {
  const raw: Settings = { prefix: '/srv/socle', run_prefix: '/run/socle', postgresql: { replrole: 'replicator' }, patroni: { etcd: { hosts: ['10.0.0.1:2379'] } } } as Settings;
  if (!validateSettings(raw)) throw new Error(JSON.stringify(validateSettings.errors));
  const settings = resolveSettings(raw, null);
  return {
    opts: {
      name: 'main', port: 5433, surole_password: passwords.su, replrole_password: passwords.repl,
      patroni: { cluster: 'c1', node: 'pg1', restapi: { listen: '10.0.0.5:8008', authentication: { username: 'api', password: passwords.api } }, postgresql: { connect_host: '10.0.0.5' }, etcd: { username: 'e', password: passwords.etcd } },
    },
    settings,
    layout: { id: '15/main', version: '15', name: 'main', datadir: '/srv/socle/15/main', waldir: '/srv/socle/15/main_wal', bindir: '/usr/lib/postgresql/15/bin' },
    port: 5433,
    parameters: () => ({ port: 5433, listen_addresses: '*', cluster_name: '15/main', work_mem: '8MB', max_connections: 200, unix_socket_directories: '/run/socle' }),
  } as unknown as ComponentContext;
}

test('passwords survive the YAML whatever their characters', () => {
  const pw = { su: `a'b"c: #d {e}`, repl: '- starts with a dash\nand a line', api: '@yes', etcd: '*star ~ null' };
  const c = context(pw);
  const doc = load(configText(c, c.opts.patroni!, memberFiles(c.settings, '15', 'main'))) as any;
  expect(doc.postgresql.authentication.superuser.password).toBe(pw.su);
  expect(doc.postgresql.authentication.replication.password).toBe(pw.repl);
  expect(doc.restapi.authentication.password).toBe(pw.api);
  expect(doc.etcd3.password).toBe(pw.etcd);
  expect(doc.scope).toBe('c1');
  expect(doc.postgresql.listen).toBe('*:5433');
  expect(doc.postgresql.connect_address).toBe('10.0.0.5:5433');
  // Patroni's own parameters are not in its `parameters`; cluster-wide ones go to the DCS.
  expect(doc.postgresql.parameters).toEqual({ work_mem: '8MB', unix_socket_directories: '/run/socle' });
  expect(doc.bootstrap.dcs.postgresql.parameters).toEqual({ max_connections: 200 });
});

test('the split of the parameters', () => {
  expect(splitParameters({ port: 1, hot_standby: 'on', wal_level: 'logical', shared_buffers: '1GB' })).toEqual({ local: { shared_buffers: '1GB' }, dcs: { wal_level: 'logical' } });
});
