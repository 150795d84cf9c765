-- A pandoc filter: a manual of docs/ (GitHub Markdown) as the reStructuredText page antsibull-docs
-- wants in docs/docsite/rst/ (build/main.ts runs `pandoc -f gfm -t rst` with it). Links between
-- manuals keep working on the docs site: each heading gets the label antsibull-docs requires
-- (ansible_collections.socle.postgresql.docsite.<manual>[.<anchor>], the anchor being GitHub's,
-- as the Markdown links write it), and a link to `other.md#anchor` or `#anchor` becomes a :ref:
-- to that label. The manual's name comes from the metadata field `manual` (-M manual=NAME).
local PREFIX = 'ansible_collections.socle.postgresql.docsite.'
local manual

local function label(doc, anchor)
  if anchor == nil or anchor == '' then return PREFIX .. doc end
  return PREFIX .. doc .. '.' .. anchor
end

local function escape(text)
  -- Inside :ref:`text <label>`, a backquote or angle bracket would end it.
  return (text:gsub('[`<>\\]', '\\%0'))
end

function Meta(meta)
  manual = pandoc.utils.stringify(meta.manual)
end

local function header(h)
  -- The title (the first level-1 heading) is the manual's own label; every heading has its anchor's.
  local labels = {}
  if h.level == 1 and not manual_titled then
    manual_titled = true
    table.insert(labels, '.. _' .. label(manual) .. ':')
  end
  if h.identifier ~= '' then table.insert(labels, '.. _' .. label(manual, h.identifier) .. ':') end
  h.identifier = ''
  -- A blank line between the targets and the heading (pandoc writes a raw block's text as it is).
  return { pandoc.RawBlock('rst', table.concat(labels, '\n\n') .. '\n'), h }
end

local function link(l)
  local target = l.target
  if target:match('^[%a][%w+.-]*:') then return nil end -- http:, https:, mailto:
  local file, anchor = target:match('^([^#]*)#?(.*)$')
  local doc = manual
  if file ~= '' then
    doc = file:match('^([%w_-]+)%.md$')
    if doc == nil then error('docs/' .. manual .. '.md: a link to ' .. target .. ' (only links to docs/*.md and #anchors reach the docs site)') end
  end
  local text = pandoc.utils.stringify(l.content)
  return pandoc.RawInline('rst', ':ref:`' .. escape(text) .. ' <' .. label(doc, anchor) .. '>`')
end

-- Meta first (the manual's name), then the headings and links.
return { { Meta = Meta }, { Header = header, Link = link } }
