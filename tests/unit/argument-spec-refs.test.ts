// A role's argument spec reuses module schemas without their suboptions and has no return
// values: a description's O(x) that names no option of the spec, and every RV(x), are written as
// code (C(x)), or the role's page in the docs site (antsibull-docs) links to nothing. O(x) that
// resolves stays a link.
import { toArgumentSpec } from '../../build/schema/argument-spec';
import { JSONSchema, createSchemaSet } from '../../build/schema/load';

const schema: JSONSchema = {
  $id: 'socle/role_demo',
  type: 'object',
  additionalProperties: false,
  properties: {
    demo_items: {
      type: 'array',
      description: 'Items; see O(demo_user) and O(state), reported in RV(env).',
      items: { type: 'object' },
    },
    demo_user: {
      type: 'object',
      additionalProperties: false,
      description: 'The user; O(demo_user.name) is its name.',
      properties: { name: { type: 'string', description: 'Its name, not O(password).' } },
    },
  },
};

test('dangling O() and every RV() become C(); resolving O() stays', () => {
  const spec = toArgumentSpec(createSchemaSet([{ file: 'role_demo.schema.yml', schema }]), schema);
  expect(spec.demo_items.description).toEqual(['Items; see O(demo_user) and C(state), reported in C(env).']);
  expect(spec.demo_user.description).toEqual(['The user; O(demo_user.name) is its name.']);
  expect(spec.demo_user.options!.name.description).toEqual(['Its name, not C(password).']);
});
