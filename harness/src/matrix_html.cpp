// One self-contained HTML page: the scenario × mode grid in colour; clicking a cell opens its
// exit status, expectations, phases, leftovers and survivors. The matrix JSON is embedded, so
// the page works from a file:// URL, offline, attached to a CI run.
#include <string>

#include "afterlife/harness/matrix.hpp"

namespace afterlife {

namespace {

constexpr const char* page_head = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>afterlife matrix</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
.summary { color: #555; margin-bottom: 1em; }
table.grid { border-collapse: collapse; }
.grid th, .grid td { border: 1px solid #ddd; padding: 4px 8px; text-align: center; }
.grid th.name { text-align: left; font-weight: normal; font-family: ui-monospace, monospace; }
.grid td.pass { background: #d9f2d9; color: #1a661a; cursor: pointer; }
.grid td.fail { background: #f8d0d0; color: #8a1010; cursor: pointer; font-weight: bold; }
.grid td.error { background: #f5dca0; color: #7a4a00; cursor: pointer; font-weight: bold; }
.grid td.none { background: #f4f4f4; color: #bbb; }
.grid td.selected { outline: 3px solid #3367d6; }
#detail { margin-top: 1.5em; padding: 1em; border: 1px solid #ccc; border-radius: 6px; display: none; }
#detail h2 { font-size: 1.1em; margin: 0 0 .5em; }
#detail table { border-collapse: collapse; margin: .3em 0 1em; }
#detail td, #detail th { border: 1px solid #e3e3e3; padding: 2px 6px; text-align: left; vertical-align: top; font-family: ui-monospace, monospace; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; max-width: 40em; }
.modes { color: #555; margin: .8em 0 0; display: grid; grid-template-columns: max-content auto; gap: 0 1em; }
.modes dt { font-family: ui-monospace, monospace; } .modes dd { margin: 0; }
.met { color: #1a661a; } .unmet { color: #8a1010; font-weight: bold; }
code { font-family: ui-monospace, monospace; }
</style></head><body>
<h1>afterlife matrix</h1>
<div class="summary" id="summary"></div>
<table class="grid" id="grid"></table>
<dl class="modes" id="modes"></dl>
<div id="detail"></div>
<script id="matrix-data" type="application/json">)HTML";

constexpr const char* page_tail = R"HTML(</script>
<script>
const data = JSON.parse(document.getElementById('matrix-data').textContent);
const el = (tag, attrs = {}, text) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};
const cells = new Map(data.cells.map(c => [c.scenario + '\u0000' + c.mode, c]));
const gaps = new Map((data.not_applicable || []).map(g => [g.scenario + '\u0000' + g.mode, g.reason]));
const passed = data.cells.filter(c => c.verdict === 'pass').length;
document.getElementById('summary').textContent =
  `${data.cells.length} cells: ${passed} as expected, ${data.cells.length - passed} not · ` +
  `${data.scenarios.length} scenarios × ${data.modes.length} modes · ${(data.elapsed_ms / 1000).toFixed(1)} s`;

const grid = document.getElementById('grid');
const head = el('tr');
head.appendChild(el('th', {}, 'scenario'));
for (const m of data.modes)
  head.appendChild(el('th', {title: (data.mode_situations || {})[m] || ''}, m));
grid.appendChild(head);
for (const s of data.scenarios) {
  const row = el('tr');
  row.appendChild(el('th', {class: 'name'}, s));
  for (const m of data.modes) {
    const c = cells.get(s + '\u0000' + m);
    if (!c) {
      const why = gaps.get(s + '\u0000' + m);
      row.appendChild(el('td', {class: 'none', title: why ? `does not apply: ${why}` : 'does not apply'}, '·'));
      continue;
    }
    const td = el('td', {class: c.verdict, title: c.reason || 'as expected'}, c.verdict === 'pass' ? '✓' : '✗');
    td.id = `${s}/${m}`;
    td.addEventListener('click', () => { location.hash = td.id; });
    row.appendChild(td);
  }
  grid.appendChild(row);
}

// What real situation each mode models.
const legend = document.getElementById('modes');
for (const m of data.modes) {
  const situation = (data.mode_situations || {})[m];
  if (!situation) continue;
  legend.appendChild(el('dt', {}, m));
  legend.appendChild(el('dd', {}, situation));
}

// The open cell is in the URL (matrix.html#SCENARIO/MODE), so a link can point at one cell.
function openFromHash() {
  const id = decodeURIComponent(location.hash.slice(1));
  const td = document.getElementById(id);
  const c = cells.get(id.replace('/', '\u0000'));
  document.querySelectorAll('td.selected').forEach(x => x.classList.remove('selected'));
  if (!td || !c) return;
  td.classList.add('selected');
  show(c);
}
window.addEventListener('hashchange', openFromHash);

// How a report field reads in a table cell: one line per fd or mapping, creators as "pid at site"
// with one "← caller" line per frame that led there.
const formats = {
  fds: v => v.map(f => `${f.fd} → ${f.target}`).join('\n'),
  maps: v => v.map(m => `${m.path} (${m.size} bytes, ${m.shared ? 'shared' : 'private'})`).join('\n'),
  creator: v => v && v.pid
    ? [`pid ${v.pid}${v.site ? ' at ' + v.site : ''}`, ...(v.callers || []).map(c => `← ${c}`)].join('\n')
    : '',
};
function cellText(column, v) {
  if (v === undefined || v === null) return '';
  if (formats[column]) return formats[column](v);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function table(rows, columns) {
  const t = el('table');
  const h = el('tr');
  for (const c of columns) h.appendChild(el('th', {}, c));
  t.appendChild(h);
  for (const r of rows) {
    const tr = el('tr');
    for (const c of columns) tr.appendChild(el('td', {}, cellText(c, r[c])));
    t.appendChild(tr);
  }
  return t;
}

function describeExit(exit) {
  if (!exit) return 'no report';
  if (exit.signal_name) return `killed by SIG${exit.signal_name}${exit.core_dumped ? ' (core dumped)' : ''}`;
  return `exit ${exit.code}`;
}

function show(c) {
  const d = document.getElementById('detail');
  d.replaceChildren();
  d.style.display = 'block';
  d.appendChild(el('h2', {}, `${c.scenario} × ${c.mode} — ${c.verdict === 'pass' ? 'as expected' : c.verdict}`));
  if (c.reason) d.appendChild(el('p', {class: 'unmet'}, c.reason));
  const r = c.report || {};
  d.appendChild(el('p', {}, `${describeExit(r.exit)} · ${r.duration_ms ?? '?'} ms · command: ${(r.command || []).join(' ')}`));
  d.appendChild(el('h3', {}, 'Expectations'));
  const ul = el('ul');
  for (const e of (r.expectations || c.expected.map(x => ({expr: x, met: null})))) {
    ul.appendChild(el('li', {class: e.met ? 'met' : 'unmet'}, `${e.met ? '✓' : '✗'} ${e.expr}`));
  }
  d.appendChild(ul);
  d.appendChild(el('h3', {}, `Phases (${(r.phases || []).length})`));
  if ((r.phases || []).length) d.appendChild(table(r.phases, ['name', 'begin_ms', 'end_ms']));
  d.appendChild(el('h3', {}, `Leftovers (${(r.leftovers || []).length})`));
  if ((r.leftovers || []).length) d.appendChild(table(r.leftovers, ['kind', 'name', 'size', 'creator', 'attributed', 'cleanup', 'reaped']));
  d.appendChild(el('h3', {}, `Survivors (${(r.survivors || []).length})`));
  if ((r.survivors || []).length) d.appendChild(table(r.survivors, ['pid', 'command', 'fds', 'maps']));
}
openFromHash();
</script>
</body></html>
)HTML";

// Inside <script>, "</" could close the element early; JSON allows "<\/" for the same text.
std::string embeddable(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (std::size_t i = 0; i < json.size(); ++i) {
    out += json[i];
    if (json[i] == '<' && i + 1 < json.size() && json[i + 1] == '/') out += '\\';
  }
  return out;
}

}  // namespace

std::string matrix_html(const matrix_result& result) {
  // Replace, not throw, on invalid UTF-8: reports quote whatever the programs printed.
  auto json = matrix_json(result).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return std::string(page_head) + embeddable(json) + page_tail;
}

}  // namespace afterlife
