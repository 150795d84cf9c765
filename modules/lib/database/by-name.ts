// The order of the lists a database's facts and diffs show (schemas, extensions, publications,
// subscriptions): by name, in JavaScript's string order, so that the catalog's rows and the
// planned view compare equal whatever order they were read or declared in.
export function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
