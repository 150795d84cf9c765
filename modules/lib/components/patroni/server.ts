// The member's server, run by Patroni: the instance's Service (instance/service.ts) for a
// Patroni member. Start = Patroni's daemon (a systemd user unit or a supervised process, via
// daemon.ts) started, then waited for until PostgreSQL runs and the REST API answers; stop =
// Patroni stopped (it stops PostgreSQL); restart and reload go through the REST API.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { daemonService, type CompanionService } from '../../daemon';
import { run, tail } from '../../exec';
import type { InstanceLayout } from '../../instance/layout';
import type { Action, Service } from '../../instance/service';
import { runningState } from '../../instance/status';
import { ModuleError } from '../../runtime';
import type { SiteSettings } from '../../settings';
import { call, statusOf, type Endpoint } from './http';
import { patroniSite, type MemberFiles } from './site';

const READY_TIMEOUT_MS = 300_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function patroniDaemon(settings: SiteSettings, files: MemberFiles): CompanionService {
  return daemonService(settings, {
    name: files.service,
    description: `Patroni member ${files.name}`,
    argv: [patroniSite(settings).execpath, files.configFile],
    logFile: files.logFile,
    pidFile: files.pidFile,
    // Beside the YAML (its folder exists once the member is provisioned): daemon.ts does not
    // make the folder of its default environment file ({prefix}/etc/daemons).
    envFile: files.configFile.replace(/(\.ya?ml)?$/, '.env'),
  });
}

function logTail(files: MemberFiles): string {
  try {
    return tail(readFileSync(files.logFile, 'utf8'), 15);
  } catch {
    return '(no log)';
  }
}

/**
 * Waits until the member's PostgreSQL runs (`GET /health` is 200) and one of the `ready` paths
 * answers 200 (`/readiness` by default); fails with the end of Patroni's log after the timeout or
 * if Patroni exits.
 */
export async function waitReady(daemon: CompanionService, files: MemberFiles, rest: Endpoint, ready: string[] = ['/readiness'], timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await statusOf(rest, '/health')) === 200) {
      for (const path of ready) if ((await statusOf(rest, path)) === 200) return;
    }
    if (!daemon.isRunning()) throw new ModuleError(`Patroni member ${files.name} exited; ${files.logFile} ends with:\n${logTail(files)}`);
    await sleep(500);
  }
  throw new ModuleError(`Patroni member ${files.name} not ready after ${timeoutMs / 1000} s (${ready.map((p) => rest.base + p).join(' or ')}); ${files.logFile} ends with:\n${logTail(files)}`);
}

async function post(rest: Endpoint, path: string, body: unknown, what: string): Promise<void> {
  const r = await call(rest, 'POST', path, body, 120_000);
  if (r.status >= 300) throw new ModuleError(`Patroni ${what} refused (HTTP ${r.status}): ${r.body.slice(0, 300)}`);
}

export function patroniServer(settings: SiteSettings, l: InstanceLayout, files: MemberFiles, rest: Endpoint): Service {
  const daemon = patroniDaemon(settings, files);
  const pgCtl = join(l.bindir, 'pg_ctl');
  const start = (): Action => {
    const a = daemon.start();
    return {
      commands: [...a.commands, `wait for ${rest.base}/readiness`],
      async run() {
        const already = daemon.isRunning();
        if (!already) await a.run();
        await waitReady(daemon, files, rest);
        // Already running (a creation: Patroni made the data directory, the core then wrote its
        // files): the server reads the core's pg_hba.conf and socle.conf now.
        if (already) await run(pgCtl, ['reload', '-D', l.datadir, '-s']);
      },
    };
  };
  const stop = (): Action => {
    const a = daemon.stop();
    return {
      commands: a.commands,
      async run() {
        await a.run();
        // Patroni stops PostgreSQL when it is stopped; if it was killed first, the server is left.
        if (runningState(l.datadir)) await run(pgCtl, ['stop', '-D', l.datadir, '-m', 'fast', '-w', '-s']);
      },
    };
  };
  return {
    kind: settings.serviceManager,
    unitContent: () => null,
    install: () => (daemon.isInstalled() ? { commands: [], run: async () => undefined } : daemon.install()),
    uninstall: () => daemon.uninstall(),
    start,
    stop,
    restart: () => ({
      commands: [`POST ${rest.base}/restart`],
      async run() {
        if (!daemon.isRunning()) return start().run();
        await post(rest, '/restart', {}, 'restart');
        await waitReady(daemon, files, rest);
      },
    }),
    reload: () => ({
      commands: [`POST ${rest.base}/reload`],
      run: () => post(rest, '/reload', undefined, 'reload'),
    }),
  };
}
