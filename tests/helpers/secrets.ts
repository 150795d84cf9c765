// The secrets check of the test suites: every secret a test hands to a module (the options its
// schema marks x-secret, found with the module's generated secret paths) is searched for in
//   - every module output (stdout as Ansible reads it, stderr, the parsed result with its diff),
//   - the server logs of the sandbox's instances (run them with log_statement = all),
//   - the files left in the sandbox and in new entries of the temporary folder (except the data
//     directories' catalog files, where PostgreSQL keeps a subscription's password by design,
//     and the site's passfile, where `pgpass: true` asks to keep it),
//   - the command lines of this user's processes, sampled while the modules run (a separate
//     process reading /proc/<pid>/cmdline, since runModule blocks the test's own event loop).
// A secret is searched for in the forms our code writes it in (SQL literal, conninfo, URI,
// passfile, Ansible's JSON). Findings name the secret by its number and where it was, never its
// value. Usage (one per test file):
//   const secrets = watchSecrets(sb);            // in beforeAll, once the sandbox exists
//   ... tests ...
//   test('no secret leaked', async () => expect((await secrets.finish()).leaks).toEqual([]));
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectSecrets, secretForms } from '../../modules/lib/secrets';
import { toAnsibleJson } from '../../modules/lib/runtime';
import { secretPaths as databaseSecrets } from '../../modules/generated/database';
import { secretPaths as instanceSecrets } from '../../modules/generated/instance';
import { secretPaths as instanceInfoSecrets } from '../../modules/generated/instance_info';
import { secretPaths as pgbackrestSecrets } from '../../modules/generated/pgbackrest';
import { secretPaths as roleSecrets } from '../../modules/generated/role';
import { onModuleRun } from './module';
import type { Sandbox } from './sandbox';

const SECRET_PATHS: Record<string, string[][]> = {
  database: databaseSecrets,
  instance: instanceSecrets,
  instance_info: instanceInfoSecrets,
  pgbackrest: pgbackrestSecrets,
  role: roleSecrets,
};

/**
 * Shorter secrets are not searched for: a one-letter password (a test of masking) is in every
 * text. Their masking is asserted where they are used.
 */
const MIN_LENGTH = 5;

/** Entries of the temporary folder made by the tests themselves (tests/helpers, scripts/test.sh, jest). */
const HARNESS = /^(socle-[a-z0-9]+-|socle-(stage|jest)\.|jest)/;

export interface SecretsReport {
  secrets: number;
  outputs: number;
  logs: number;
  files: number;
  samples: number;
  /** `secret #3 in <where>`: never the value. */
  leaks: string[];
}

export interface SecretsCheck {
  /** A secret the test uses outside module options (e.g. a password set with psql). */
  track(...secrets: string[]): void;
  /** An output the test got other than a module's (a playbook run's), searched like theirs. */
  output(where: string, text: string): void;
  /** Stops the sampler, searches everything; prints one line of counts. */
  finish(): Promise<SecretsReport>;
}

/** Every form to look for: as written by our quoting, and as Ansible's JSON escapes it. */
function needles(secret: string): string[] {
  const forms = new Set(secretForms(secret));
  for (const f of [...forms]) forms.add(toAnsibleJson([f]).slice(2, -2));
  return [...forms];
}

// The sampler: reads the secrets to look for (never from its own command line) as JSON lines on
// stdin, samples /proc/<pid>/cmdline of this user's processes every 10 ms, and prints
// its findings as JSON when its stdin closes.
const SAMPLER = `
const fs = require('fs');
const uid = process.getuid();
const secrets = [];
const found = new Map();
let samples = 0;
let buffer = '';
process.stdin.on('data', (d) => {
  buffer += d;
  let nl;
  while ((nl = buffer.indexOf('\\n')) >= 0) {
    secrets.push(JSON.parse(buffer.slice(0, nl)));
    buffer = buffer.slice(nl + 1);
  }
});
// Other users' processes are remembered (and forgotten every second, pids are reused): a sample
// then costs a directory listing and the command lines of this user's processes only.
let others = new Set();
setInterval(() => (others = new Set()), 1000).unref();
const sample = () => {
  samples++;
  for (const pid of fs.readdirSync('/proc')) {
    if (others.has(pid) || !/^[0-9]+$/.test(pid) || pid === String(process.pid)) continue;
    try {
      if (fs.statSync('/proc/' + pid).uid !== uid) {
        others.add(pid);
        continue;
      }
      const cmd = fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8');
      secrets.forEach((forms, i) => {
        if (forms.some((f) => cmd.includes(f))) found.set(i + ' ' + cmd.split('\\0')[0], { secret: i, program: cmd.split('\\0')[0] });
      });
    } catch {}
  }
};
const timer = setInterval(sample, 10);
process.stdin.on('end', () => {
  clearInterval(timer);
  process.stdout.write(JSON.stringify({ samples, found: [...found.values()] }));
});
`;

class Check implements SecretsCheck {
  private secrets: string[] = [];
  private outputs: Array<{ where: string; text: string }> = [];
  private readonly sampler: ChildProcess;
  private samplerOut = '';
  private readonly samplerDone: Promise<void>;
  private readonly tmpBefore: Set<string>;
  private readonly started = Date.now();

  constructor(private sb: Sandbox, private exempt: string[]) {
    this.tmpBefore = new Set(readdirSync(tmpdir()));
    this.sampler = spawn(process.execPath, ['-e', SAMPLER], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.sampler.stdout!.on('data', (d) => (this.samplerOut += d));
    this.sampler.unref(); // it ends with its stdin, when finish() closes it or this process exits
    this.samplerDone = new Promise((resolve) => this.sampler.on('close', () => resolve()));
    onModuleRun({
      // Before the run: the sampler must know what to look for while the module runs.
      before: (name, args) => {
        this.from = `${name} run #${this.outputs.length / 3 + 1}`;
        this.track(...collectSecrets(args, SECRET_PATHS[name] ?? []));
        this.from = 'the test';
      },
      after: (name, _args, run) => {
        const where = `output of ${name} run #${this.outputs.length / 3 + 1}`;
        this.outputs.push({ where, text: run.stdout }, { where: `${where} (stderr)`, text: run.stderr }, { where: `${where} (result)`, text: JSON.stringify(run.result) });
      },
    });
  }

  /** Where each secret was first seen (for findings: never the value). */
  private origins: string[] = [];
  private from = 'the test';

  track(...secrets: string[]): void {
    for (const s of secrets) {
      if (s.length < MIN_LENGTH || this.secrets.includes(s)) continue;
      this.secrets.push(s);
      this.origins.push(this.from);
      this.sampler.stdin!.write(JSON.stringify(needles(s)) + '\n');
    }
  }

  output(where: string, text: string): void {
    this.outputs.push({ where, text }, { where: `${where} (stderr)`, text: '' }, { where: `${where} (result)`, text: '' });
  }

  async finish(): Promise<SecretsReport> {
    this.sampler.stdin!.end();
    await this.samplerDone;
    let sampled: { samples: number; found: Array<{ secret: number; program: string }> } = { samples: 0, found: [] };
    try {
      sampled = JSON.parse(this.samplerOut);
    } catch {
      throw new Error('the command line sampler gave no report');
    }
    const secrets = this.secrets;
    const index = (s: string) => `${secrets.indexOf(s) + 1} (given to ${this.origins[secrets.indexOf(s)]})`;
    const leaks: string[] = [];
    const search = (where: string, text: string) => {
      secrets.forEach((s) => {
        if (needles(s).some((n) => text.includes(n))) leaks.push(`secret #${index(s)} in ${where}`);
      });
    };
    for (const o of this.outputs) search(o.where, o.text);
    const files = this.files();
    let logs = 0;
    for (const f of files) {
      if (f.endsWith('.log')) logs++;
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch {
        continue;
      }
      search(`file ${f}`, text);
    }
    for (const f of sampled.found) leaks.push(`secret #${index(secrets[f.secret])} on the command line of ${f.program}`);
    const report = { secrets: secrets.length, outputs: this.outputs.length / 3, logs, files: files.length, samples: sampled.samples, leaks: [...new Set(leaks)] };
    // eslint-disable-next-line no-console
    console.log(
      `secrets check: ${report.secrets} secrets; searched ${report.outputs} module outputs, ${report.logs} server logs, ` +
        `${report.files} files, ${report.samples} samples of command lines; leaks: ${report.leaks.length}`,
    );
    return report;
  }

  /** Files of the sandbox and new files of the temporary folder, minus the catalogs and the exempt ones. */
  private files(): string[] {
    const out: string[] = [];
    const walk = (dir: string, depth: number) => {
      if (depth > 12) return;
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        return;
      }
      // A data directory: its configuration files and its log folder, not its catalog files.
      const isDataDir = entries.includes('PG_VERSION') && entries.includes('global');
      for (const e of entries) {
        const p = join(dir, e);
        if (this.exempt.includes(p)) continue;
        let st;
        try {
          st = lstatSync(p);
        } catch {
          continue;
        }
        if (st.isDirectory()) {
          if (isDataDir && e !== 'log' && e !== 'pg_log') continue;
          walk(p, depth + 1);
        } else if (st.isFile() && st.size < 16 * 1024 * 1024) {
          out.push(p);
        }
      }
    };
    walk(this.sb.dir, 0);
    const cwd = process.cwd();
    for (const e of readdirSync(tmpdir())) {
      const p = join(tmpdir(), e);
      // New since the check started, and not made by the tests (their sandboxes, args files, the
      // run's copy of the repository, jest's cache): what is left is what the modules left.
      if (this.tmpBefore.has(e) || p === this.sb.dir || cwd.startsWith(p) || HARNESS.test(e)) continue;
      try {
        const st = lstatSync(p);
        if (st.uid !== process.getuid?.() || st.mtimeMs < this.started - 1000) continue;
        if (st.isDirectory()) walk(p, 0);
        else if (st.isFile()) out.push(p);
      } catch {
        /* gone meanwhile (another suite's temporary file) */
      }
    }
    return out;
  }
}

/** The text of every server log under `dir` (the logging collector's files). */
export function serverLogs(dir: string): string {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 10) return;
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    const isDataDir = entries.includes('PG_VERSION') && entries.includes('global');
    for (const e of entries) {
      const p = join(d, e);
      const st = lstatSync(p);
      if (st.isDirectory() && !(isDataDir && e !== 'log')) walk(p, depth + 1);
      else if (st.isFile() && e.endsWith('.log')) out.push(readFileSync(p, 'utf8'));
    }
  };
  walk(dir, 0);
  return out.join('\n');
}

/**
 * Starts watching the module runs of this test file. `exempt`: files allowed to hold secrets
 * (the sandbox's passfile is, always).
 */
export function watchSecrets(sb: Sandbox, exempt: string[] = []): SecretsCheck {
  return new Check(sb, [sb.passfile, ...exempt]);
}
