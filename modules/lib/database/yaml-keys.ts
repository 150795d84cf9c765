// A privilege says what it is granted `on:`. Ansible reads playbooks as YAML 1.1, where an
// unquoted `on` is the boolean true: the module then receives the key "true". Unless the user
// quotes it ("on":), that is what arrives, so it is put back where it belongs before validation.

function restoreOnKeys(privileges: unknown): void {
  if (!Array.isArray(privileges)) return;
  for (const p of privileges) {
    if (p && typeof p === 'object' && 'true' in p && !('on' in p)) {
      const item = p as Record<string, unknown>;
      item.on = item.true;
      delete item.true;
    }
  }
}

/** For the database module: `privileges[].on`. */
export function prepareDatabaseOptions(options: Record<string, unknown>): void {
  restoreOnKeys(options.privileges);
}

/** For the instance module: `databases[].privileges[].on`. */
export function prepareInstanceOptions(options: Record<string, unknown>): void {
  if (!Array.isArray(options.databases)) return;
  for (const db of options.databases) if (db && typeof db === 'object') prepareDatabaseOptions(db as Record<string, unknown>);
}
