#!/usr/bin/env bash
# `npm run docs`: the collection's docs site, built with antsibull-docs (the tool the Ansible
# ecosystem renders collection docs with) from the built tarball as users install it: a page per
# module and role, plus the Socle's manuals (docs/*.md, converted by the collection build to
# docs/docsite/rst/*.rst, the extra docs antsibull-docs takes, listed by docs/docsite/extra-docs.yml).
# `antsibull-docs lint-collection-docs` checks the collection first: any complaint fails the build.
# Output: $SOCLE_DOCS_OUT, default $SOCLE_DIST/docs (dist/docs). Strict: a Sphinx warning (an unresolved reference,
# a heading anchor that does not exist, a manual in no table of contents) fails the build.
#   SOCLE_DIST       where the tarball is (built by `npm run build` when missing) and docs/ goes
#   SOCLE_DOCS_VENV  the docs virtualenv (scripts/docs-venv.sh; default /opt/socle/docs-venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
dist=$(realpath -m "${SOCLE_DIST:-dist}")
log() { printf '[docs] %s\n' "$*" >&2; }
bin=$(bash scripts/docs-venv.sh)
ls "$dist"/socle-postgresql-*.tar.gz >/dev/null 2>&1 || { log "no tarball in $dist: building it"; npm run --silent build; }
tarball=$(ls "$dist"/socle-postgresql-*.tar.gz | head -n1)
work=$(mktemp -d /tmp/socle-docs.XXXXXX)
trap 'rm -rf "$work"' EXIT
export PATH="$bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" ANSIBLE_NOCOLOR=1
log "installing $(basename "$tarball")"
ansible-galaxy collection install "$tarball" -p "$work/collections" >/dev/null 2>&1
collection="$work/collections/ansible_collections/socle/postgresql"
log "antsibull-docs lint-collection-docs"
lint=$(cd "$collection" && antsibull-docs lint-collection-docs --plugin-docs . 2>&1) || { printf '%s\n' "$lint" >&2; exit 1; }
[ -z "$lint" ] || { printf '%s\n' "$lint" >&2; log "the lint is not clean"; exit 1; }

# The Sphinx project antsibull-docs makes for one collection, its pages at the top (squashed).
mkdir -m 0755 "$work/site"
antsibull-docs sphinx-init --use-current --squash-hierarchy --dest-dir "$work/site" socle.postgresql >/dev/null
cat "$root/build/docsite/conf_socle.py" >>"$work/site/conf.py"
cp -r "$root/build/docsite/templates" "$work/site/_templates"
# Ansible's own labels the generated pages refer to, in an inventory Sphinx reads offline.
python3 - "$work/site/ansible-objects.inv" <<'PY'
import sys, zlib
entries = [
    ('common_return_values', 'reference_appendices/common_return_values.html#common-return-values', 'Return Values'),
    ('ansible_configuration_settings', 'reference_appendices/config.html#ansible-configuration-settings', 'Ansible Configuration Settings'),
]
body = ''.join(f'{name} std:label -1 {uri} {title}\n' for name, uri, title in entries).encode()
with open(sys.argv[1], 'wb') as f:
    f.write(b'# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n# The remainder of this file is compressed using zlib.\n')
    f.write(zlib.compress(body))
PY

log "rendering the modules' and roles' pages"
rst="$work/site/rst"
mkdir -p "$rst" && chmod og-w "$rst"
antsibull-docs --config-file "$work/site/antsibull-docs.cfg" collection --cleanup everything --use-current \
  --squash-hierarchy --dest-dir "$rst" socle.postgresql >/dev/null
# antsibull-docs wrote the manuals (docs/docsite/rst/) into docsite/, in the toctree of extra-docs.yml.
ls "$rst"/docsite/*.rst >/dev/null 2>&1 || { log "no manual in $rst/docsite: the tarball has no docs/docsite/rst"; exit 1; }
# Manuals that extra-docs.yml does not list: one more section, by file name.
python3 - "$collection/docs" "$rst/index.rst" <<'PY'
import os, re, sys
docs, index = sys.argv[1], sys.argv[2]
listed = set(re.findall(r'ref:\s*(\S+)', open(os.path.join(docs, 'docsite', 'extra-docs.yml')).read()))
rest = sorted(f[:-4] for f in os.listdir(os.path.join(docs, 'docsite', 'rst')) if f.endswith('.rst') and f[:-4] not in listed)
if rest:
    with open(index, 'a') as f:
        f.write('\n\nMore manuals\n------------\n\n.. toctree::\n    :maxdepth: 1\n\n' + ''.join(f'    docsite/{r}\n' for r in rest))
PY

out=$(realpath -m "${SOCLE_DOCS_OUT:-$dist/docs}")
log "sphinx-build into $out"
rm -rf "$out"
sphinx-build -q -b html -W --keep-going -c "$work/site" -d "$work/doctrees" "$rst" "$out"
log "done: $out/index.html"
