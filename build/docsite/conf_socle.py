# Appended to the conf.py that `antsibull-docs sphinx-init` writes (build/docsite/build.sh):
# what the Socle's docs site adds to antsibull-docs' defaults.
project = 'socle.postgresql'
title = html_short_title = 'socle.postgresql documentation'
copyright = 'socle.postgresql maintainers'
# The manuals are reStructuredText made from docs/*.md by the collection build (build/docs-rst.ts),
# their headings labelled and their links :ref: to those labels (checked: -W in build.sh).
# The build runs offline: no inventory is fetched. The two labels of Ansible's own docs that
# antsibull-docs' pages refer to come from a local inventory (ansible-objects.inv, written by
# build.sh) and still link to docs.ansible.com.
import os.path  # noqa: E402
intersphinx_mapping = {'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ansible-objects.inv'))}
# build/docsite/templates, copied beside this file by build.sh (the logo's link, see extrabody.html).
templates_path = ['_templates']
