// Every task starts a new Node process, and compiling a module's bundle was about a tenth of a
// no-op task. V8 can reuse its compiled code between processes (cached data), but Node before 22
// does that only for its own internals: so each module is a small loader that compiles the
// bundle with vm.Script and keeps V8's cache per user (~/.cache/socle), keyed by the bundle's hash
// and the Node version. A missing, stale or unwritable cache only costs the compile; set
// SOCLE_NO_CODE_CACHE=1 on a host to disable it.
import { createHash } from 'node:crypto';

/** The loader, run as the module: `header` (shebang, markers) first, then the loader. */
export function withCodeCache(header: string, bundle: string, name: string): string {
  const hash = createHash('sha256').update(bundle).digest('hex').slice(0, 16);
  const wrapped = `(function (exports, require, module, __filename, __dirname) {${bundle}\n})`;
  const loader = `
'use strict';
const vm = require('vm'), fs = require('fs'), os = require('os'), path = require('path');
const code = ${JSON.stringify(wrapped)};
const useCache = !process.env.SOCLE_NO_CODE_CACHE;
let dir, file, cached;
if (useCache) {
  try {
    dir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'socle');
    file = path.join(dir, ${JSON.stringify(name)} + '-${hash}-' + process.version + '-' + process.arch + '.v8');
    cached = fs.readFileSync(file);
  } catch (e) { cached = undefined; }
}
const script = new vm.Script(code, { filename: __filename, cachedData: cached });
script.runInThisContext()(exports, require, module, __filename, __dirname);
if (useCache && file && (cached === undefined || script.cachedDataRejected)) {
  // After the run, so that the functions the task compiled are in the cache too.
  process.once('exit', () => {
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const tmp = file + '.' + process.pid;
      fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
      fs.renameSync(tmp, file);
    } catch (e) { /* a read-only home only costs the compile */ }
  });
}
`;
  return `${header}\n${loader}`;
}
