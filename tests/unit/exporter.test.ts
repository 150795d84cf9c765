// The postgres_exporter's data source, environment file and passfile texts (no process here).
import { envText, parseEnvText } from '../../modules/lib/daemon';
import { dataSourceUri, passfileText } from '../../modules/lib/components/prometheus/exporter';

test('an environment file reads back as written, whatever the values', () => {
  const env = { A: `sp ace 'q' "dq" \\ back$lash`, B: 'line\nbreak', C: '' };
  expect(parseEnvText(envText(env))).toEqual(env);
});

test('a data source URI: user percent-encoded, socket directory as the host parameter, no password', () => {
  expect(dataSourceUri({ user: 'mon itor@x', host: '/run/user/1000/socle pg', port: 5433, dbname: 'postgres' })).toBe(
    'postgresql://mon%20itor%40x@:5433/postgres?host=%2Frun%2Fuser%2F1000%2Fsocle%20pg&sslmode=disable',
  );
  expect(dataSourceUri({ user: 'u', password: "p w:'@/", host: '::1', port: 5432, dbname: 'db' })).toBe(
    "postgresql://u:p%20w%3A'%40%2F@[::1]:5432/db?sslmode=disable",
  );
});

test('a passfile line escapes libpq separators', () => {
  expect(passfileText('a:b\\c d')).toBe('*:*:*:*:a\\:b\\\\c d\n');
});
