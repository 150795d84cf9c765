# Appended to the conf.py that `antsibull-docs sphinx-init` writes (build/docsite/build.sh):
# what the Socle's docs site adds to antsibull-docs' defaults.
project = 'socle.postgresql'
title = html_short_title = 'socle.postgresql documentation'
copyright = 'socle.postgresql maintainers'
# The manuals are Markdown (docs/*.md of the collection), read as they are on a forge.
extensions.append('myst_parser')
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
# Headings get ids, so that links like operations.md#adding-a-standby resolve (and are checked).
myst_heading_anchors = 4
# The build runs offline: no inventory is fetched. The two labels of Ansible's own docs that
# antsibull-docs' pages refer to come from a local inventory (ansible-objects.inv, written by
# build.sh) and still link to docs.ansible.com.
import os.path  # noqa: E402
intersphinx_mapping = {'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ansible-objects.inv'))}
# build/docsite/templates, copied beside this file by build.sh (the logo's link, see extrabody.html).
templates_path = ['_templates']
