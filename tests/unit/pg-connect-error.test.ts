// Connection failures keep the server's error class (pg/client.ts ConnectError).
import { connect, ConnectError } from '../../modules/lib/pg/client';

test('class 28 (credentials, pg_hba.conf) is an authentication failure; starting up or no server is not', async () => {
  expect(new ConnectError('x', '28P01').authentication).toBe(true);
  expect(new ConnectError('x', '28000').authentication).toBe(true);
  expect(new ConnectError('x', '57P03').authentication).toBe(false);
  const err = await connect({ host: '127.0.0.1', port: 1, user: 'nobody' }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectError);
  expect((err as ConnectError).sqlstate).toBe('ECONNREFUSED');
  expect((err as ConnectError).authentication).toBe(false);
  expect((err as Error).message).toMatch(/^cannot connect to postgres as nobody on 127\.0\.0\.1:1: /);
});
