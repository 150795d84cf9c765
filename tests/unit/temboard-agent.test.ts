// The temBoard agent's ini text, what is read back from it, its URL (no process here).
import { agentUrl, configText, configuredPort } from '../../modules/lib/components/temboard/agent';

const config = {
  port: 2345,
  address: '0.0.0.0',
  plugins: ['activity', 'monitoring'],
  cert: '/etc/tls/agent.pem',
  key: '/etc/tls/agent.key',
  signingKey: '/etc/temboard/signing.pem',
  home: '/srv/lib/temboard-agent/data/15-main',
  pgHost: '/run/postgresql',
  pgPort: 5433,
  user: 'temboardagent',
  instance: '15-main',
};

test('the ini text: sections and values as temboard-agent reads them, no password, nothing quoted', () => {
  const text = configText(config);
  expect(text).toContain('[temboard]\nport = 2345\naddress = 0.0.0.0\nplugins = ["activity","monitoring"]\n');
  expect(text).toContain('ssl_cert_file = /etc/tls/agent.pem\nssl_key_file = /etc/tls/agent.key\nsigning_public_key = /etc/temboard/signing.pem\n');
  expect(text).toContain('[postgresql]\nhost = /run/postgresql\nport = 5433\nuser = temboardagent\ndbname = postgres\ninstance = 15-main\n');
  expect(text).toContain('[logging]\nmethod = stderr\n');
  // Optional values are left out rather than written empty.
  expect(text).not.toMatch(/ssl_ca_cert_file|ui_url|password/);
  expect(text).not.toMatch(/= ['"]/);
  expect(configText({ ...config, caCert: '/etc/tls/ca.pem', uiUrl: 'https://ui:8888' })).toMatch(/^ssl_ca_cert_file = \/etc\/tls\/ca.pem$[\s\S]*^ui_url = https:\/\/ui:8888$/m);
});

test('the agent\'s port is read back from its section, not the instance\'s', () => {
  expect(configuredPort(configText(config))).toBe(2345);
  expect(configuredPort('[postgresql]\nport = 5433\n')).toBeNull();
});

test('the URL of an agent listening everywhere is on loopback', () => {
  expect(agentUrl('0.0.0.0', 2345)).toBe('https://127.0.0.1:2345');
  expect(agentUrl('::', 2345)).toBe('https://[::1]:2345');
  expect(agentUrl('192.0.2.1', 2346)).toBe('https://192.0.2.1:2346');
});
