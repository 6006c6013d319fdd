// One self-contained HTML page: the scenario × mode grid, failures first, each cell saying what
// it left ("clean", "1 shm", "2 survivors"); a legend; filters by scenario, mode and verdict;
// clicking a cell opens its exit, expectations, leftovers and survivors, with a link to its
// log. The data is embedded (a compact digest of the matrix JSON, so the full matrix stays
// under 300 KB): the page works from a file:// URL, offline, attached to a CI run, and loads
// nothing from elsewhere.
#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <string>

#include "afterlife/harness/matrix.hpp"
#include "junit.hpp"

namespace afterlife {

namespace {

constexpr const char* page_head = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>afterlife matrix</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
.summary { color: #555; margin-bottom: .6em; }
.filters { margin: .4em 0 .8em; display: flex; gap: 1em; flex-wrap: wrap; align-items: center; }
.legend { display: flex; gap: .4em 1.2em; flex-wrap: wrap; margin: 0 0 .8em; font-size: 12px; }
.legend span.key { display: inline-block; min-width: 4.5em; padding: 1px 4px; text-align: center; border: 1px solid #ddd; margin-right: .3em; }
table.grid { border-collapse: collapse; }
.grid th, .grid td { border: 1px solid #ddd; padding: 3px 6px; text-align: center; font-size: 12px; white-space: nowrap; }
.grid th.name { text-align: left; font-weight: normal; white-space: normal; min-width: 16em; max-width: 28em; }
.grid th.name code { font-weight: bold; }
.grid th.name .about { display: block; color: #666; font-size: 11px; }
.pass { background: #d9f2d9; color: #1a661a; cursor: pointer; }
.leak { background: #cfe3f7; color: #134a7c; cursor: pointer; }
.fail { background: #f8d0d0; color: #8a1010; cursor: pointer; font-weight: bold; }
.error { background: #f5dca0; color: #7a4a00; cursor: pointer; font-weight: bold; }
.none { background: #f4f4f4; color: #aaa; }
.other { background: #fff; color: #ccc; }
.grid td.selected { outline: 3px solid #3367d6; }
.grid .hidden { display: none; }
#detail { margin-top: 1.2em; padding: 1em; border: 1px solid #ccc; border-radius: 6px; display: none; }
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
<div class="legend">
 <span><span class="key pass">clean</span>as expected, nothing left</span>
 <span><span class="key leak">1 shm</span>as expected, and it left this (the scenario's point)</span>
 <span><span class="key fail">✗ …</span>not as expected</span>
 <span><span class="key error">! …</span>the run itself failed</span>
 <span><span class="key none">·</span>does not apply (hover for why)</span>
</div>
<div class="filters">
 <label>scenario <input id="f-scenario" type="search" placeholder="part of a name"></label>
 <label>mode <select id="f-mode"><option value="">all</option></select></label>
 <label>verdict <select id="f-verdict"><option value="">all</option><option value="bad">not as expected</option><option value="pass">as expected</option><option value="leak">as expected, left something</option><option value="clean">as expected, clean</option><option value="none">does not apply</option></select></label>
</div>
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
const key = (s, m) => s + '\u0000' + m;
const cells = new Map(data.cells.map(c => [key(data.scenarios[c.s], data.modes[c.m]), c]));
const gaps = new Map(data.gaps.map(g => [key(data.scenarios[g[0]], data.modes[g[1]]), g[2]]));
const bad = c => c.v !== 'pass';
const passed = data.cells.filter(c => !bad(c)).length;
document.getElementById('summary').textContent =
  `${data.cells.length} cells: ${passed} as expected, ${data.cells.length - passed} not · ` +
  `${data.scenarios.length} scenarios × ${data.modes.length} modes · ${(data.elapsed_ms / 1000).toFixed(1)} s` +
  (data.started ? ` · ${data.started}` : '') + (data.hostname ? ` on ${data.hostname}` : '');

const cls = c => c.v === 'pass' ? (c.left === 'clean' ? 'pass' : 'leak') : c.v;
const label = c => (c.v === 'fail' ? '✗ ' : c.v === 'error' ? '! ' : '') + c.left;
const seconds = t => t < 0.1 ? '<0.1 s' : `${t} s`;

// Rows with a cell not as expected come first; otherwise the catalog's order.
const order = data.scenarios.map((s, i) => i);
const rowBad = i => data.modes.some(m => { const c = cells.get(key(data.scenarios[i], m)); return c && bad(c); });
order.sort((a, b) => (rowBad(b) - rowBad(a)) || (a - b));

const grid = document.getElementById('grid');
const head = el('tr');
head.appendChild(el('th', {}, 'scenario'));
data.modes.forEach((m, j) => head.appendChild(el('th', {title: data.situations[m] || '', 'data-m': j}, m)));
grid.appendChild(head);
for (const i of order) {
  const s = data.scenarios[i];
  const row = el('tr', {'data-s': s});
  const name = el('th', {class: 'name'});
  name.appendChild(el('code', {}, s));
  if (data.summaries[s]) name.appendChild(el('span', {class: 'about'}, data.summaries[s]));
  row.appendChild(name);
  data.modes.forEach((m, j) => {
    const c = cells.get(key(s, m));
    let td;
    if (!c) {
      const why = gaps.get(key(s, m));
      td = why === undefined ? el('td', {class: 'other', title: 'not in this report'}, '')
                             : el('td', {class: 'none', title: why ? `does not apply: ${why}` : 'does not apply'}, '·');
    } else {
      td = el('td', {class: cls(c), title: (c.r || 'as expected') + ` · ${seconds(c.t)}`}, label(c));
      td.id = `${s}/${m}`;
      td.addEventListener('click', () => { location.hash = td.id; });
    }
    td.dataset.m = j;
    row.appendChild(td);
  });
  grid.appendChild(row);
}

// Filters: a scenario's name, a mode's column, a verdict (cells that do not match are dimmed
// out; rows with no matching cell are hidden).
const fScenario = document.getElementById('f-scenario');
const fMode = document.getElementById('f-mode');
const fVerdict = document.getElementById('f-verdict');
data.modes.forEach((m, j) => fMode.appendChild(el('option', {value: j}, m)));
function verdictOf(td) {
  const c = td.classList;
  return c.contains('pass') ? ['pass', 'clean'] : c.contains('leak') ? ['pass', 'leak']
       : c.contains('none') ? ['none'] : c.contains('other') ? [] : ['bad'];
}
function applyFilters() {
  const text = fScenario.value.trim().toLowerCase(), mode = fMode.value, verdict = fVerdict.value;
  grid.querySelectorAll('[data-m]').forEach(x => x.classList.toggle('hidden', mode !== '' && x.dataset.m !== mode));
  grid.querySelectorAll('tr[data-s]').forEach(row => {
    let any = false;
    row.querySelectorAll('td').forEach(td => {
      const show = verdict === '' || verdictOf(td).includes(verdict);
      td.style.opacity = show ? '' : '0.15';
      if (show && !td.classList.contains('hidden')) any = true;
    });
    row.classList.toggle('hidden', !row.dataset.s.toLowerCase().includes(text) || !any);
  });
}
for (const f of [fScenario, fMode, fVerdict]) f.addEventListener('input', applyFilters);

// What real situation each mode models.
const legend = document.getElementById('modes');
for (const m of data.modes) {
  if (!data.situations[m]) continue;
  legend.appendChild(el('dt', {}, m));
  legend.appendChild(el('dd', {}, data.situations[m]));
}

// The open cell is in the URL (matrix.html#SCENARIO/MODE), so a link can point at one cell.
function openFromHash() {
  const id = decodeURIComponent(location.hash.slice(1));
  const td = document.getElementById(id);
  const c = cells.get(id.replace('/', '\u0000'));
  document.querySelectorAll('td.selected').forEach(x => x.classList.remove('selected'));
  if (!td || !c) return;
  td.classList.add('selected');
  show(id, c);
}
window.addEventListener('hashchange', openFromHash);

function table(rows, columns) {
  const t = el('table');
  const h = el('tr');
  for (const c of columns) h.appendChild(el('th', {}, c));
  t.appendChild(h);
  for (const r of rows) {
    const tr = el('tr');
    r.forEach(v => tr.appendChild(el('td', {}, String(v))));
    t.appendChild(tr);
  }
  return t;
}

function show(id, c) {
  const d = document.getElementById('detail');
  d.replaceChildren();
  d.style.display = 'block';
  d.appendChild(el('h2', {}, `${id.replace('/', ' × ')} — ${c.v === 'pass' ? 'as expected' : c.v} — left: ${c.left}`));
  if (c.r) d.appendChild(el('p', {class: 'unmet'}, c.r));
  const p = el('p', {}, `${c.exit} · ${seconds(c.t)} · `);
  if (c.log) p.appendChild(el('a', {href: c.log}, 'log'));
  d.appendChild(p);
  d.appendChild(el('h3', {}, 'Expectations'));
  const ul = el('ul');
  for (const [e, actual] of c.unmet) ul.appendChild(el('li', {class: 'unmet'}, `✗ ${data.exprs[e]}  (${actual})`));
  for (const e of c.met) ul.appendChild(el('li', {class: 'met'}, `✓ ${data.exprs[e]}`));
  d.appendChild(ul);
  d.appendChild(el('h3', {}, `Leftovers (${c.leftovers.length})`));
  if (c.leftovers.length) d.appendChild(table(c.leftovers, ['kind', 'name', 'created at', 'remove with', 'reaped']));
  d.appendChild(el('h3', {}, `Survivors (${c.survivors.length})`));
  if (c.survivors.length) d.appendChild(table(c.survivors, ['pid', 'command']));
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

std::string text_of(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
}

std::string describe_exit(const nlohmann::json& report) {
  const auto& exit = report.is_object() && report.contains("exit") ? report["exit"] : nlohmann::json();
  if (!exit.is_object()) return "no report";
  if (exit.contains("signal_name"))
    return "killed by SIG" + text_of(exit, "signal_name") + (exit.value("core_dumped", false) ? " (core dumped)" : "");
  if (exit.contains("code")) return "exit " + exit["code"].dump();
  return "never reaped";
}

// One cell, as the page needs it: indices into the rows and columns, the verdict, what it
// left, its log relative to the page, and the parts of the report the detail pane shows.
// Expressions repeat across a scenario's cells (long output~ regexes): the page holds each once
// and cells name them by index.
struct expression_table {
  nlohmann::json list = nlohmann::json::array();
  std::map<std::string, std::size_t> index;
  std::size_t operator()(const std::string& expr) {
    auto [it, fresh] = index.emplace(expr, list.size());
    if (fresh) list.push_back(expr);
    return it->second;
  }
};

nlohmann::json cell_digest(const matrix_cell_result& c, std::size_t row, std::size_t column,
                           const std::filesystem::path& links_from, expression_table& exprs) {
  const auto& report = c.report;
  nlohmann::json met = nlohmann::json::array(), unmet = nlohmann::json::array();
  for (const auto& e : report.is_object() ? report.value("expectations", nlohmann::json::array()) : nlohmann::json::array()) {
    if (e.value("met", false)) met.push_back(exprs(text_of(e, "expr")));
    else unmet.push_back({exprs(text_of(e, "expr")), text_of(e, "actual")});
  }
  nlohmann::json leftovers = nlohmann::json::array(), survivors = nlohmann::json::array();
  for (const auto& l : report.is_object() ? report.value("leftovers", nlohmann::json::array()) : nlohmann::json::array()) {
    const auto& creator = l.contains("creator") ? l["creator"] : nlohmann::json();
    std::string site = creator.is_object() ? fmt::format("pid {} at {}", creator.value("pid", 0), text_of(creator, "site"))
                                           : "not this run";
    leftovers.push_back({text_of(l, "kind"), text_of(l, "name"), site, text_of(l, "cleanup"),
                         l.value("reaped", false) ? "yes" : "no"});
  }
  for (const auto& s : report.is_object() ? report.value("survivors", nlohmann::json::array()) : nlohmann::json::array())
    survivors.push_back({s.value("pid", 0), text_of(s, "command")});
  std::string log = c.log.empty() ? std::string{}
                    : links_from.empty() ? c.log.string()
                                         : c.log.lexically_relative(std::filesystem::absolute(links_from)).generic_string();
  return {{"s", row},
          {"m", column},
          {"v", c.verdict == cell_verdict::pass ? "pass" : c.verdict == cell_verdict::fail ? "fail" : "error"},
          {"r", c.reason},
          // Seconds, rounded to a tenth.
          {"t", static_cast<double>((c.duration.count() + 50) / 100) / 10.0},
          {"left", cell_left(c.report)},
          {"exit", describe_exit(report)},
          {"log", log},
          {"met", met},
          {"unmet", unmet},
          {"leftovers", leftovers},
          {"survivors", survivors}};
}

}  // namespace

std::string cell_left(const nlohmann::json& report) {
  if (!report.is_object()) return "no report";
  // Kinds in the order they first appear; posix_shm reads "shm", as people say it.
  std::vector<std::pair<std::string, std::size_t>> kinds;
  for (const auto& l : report.value("leftovers", nlohmann::json::array())) {
    std::string kind = text_of(l, "kind");
    if (kind.starts_with("posix_")) kind = kind.substr(6);
    auto it = std::find_if(kinds.begin(), kinds.end(), [&](const auto& k) { return k.first == kind; });
    if (it == kinds.end()) kinds.emplace_back(kind, 1);
    else ++it->second;
  }
  std::string left;
  for (const auto& [kind, count] : kinds) left += fmt::format("{}{} {}", left.empty() ? "" : ", ", count, kind);
  auto survivors = report.value("survivors", nlohmann::json::array()).size();
  if (survivors > 0)
    left += fmt::format("{}{} survivor{}", left.empty() ? "" : ", ", survivors, survivors == 1 ? "" : "s");
  return left.empty() ? "clean" : left;
}

std::string matrix_html(const matrix_result& result, const std::filesystem::path& links_from) {
  std::map<std::string, std::size_t> row, column;
  for (std::size_t i = 0; i < result.scenarios.size(); ++i) row[result.scenarios[i]] = i;
  for (std::size_t i = 0; i < result.modes.size(); ++i) column[result.modes[i]] = i;
  nlohmann::json cells = nlohmann::json::array(), gaps = nlohmann::json::array();
  expression_table exprs;
  for (const auto& c : result.cells) cells.push_back(cell_digest(c, row[c.scenario], column[c.mode], links_from, exprs));
  for (const auto& g : result.not_applicable) gaps.push_back({row[g.scenario], column[g.mode], g.reason});
  nlohmann::json situations = nlohmann::json::object();
  for (const auto& m : result.modes) situations[m] = std::string(mode_situation(m));
  nlohmann::json data{{"scenarios", result.scenarios}, {"modes", result.modes},
                      {"summaries", result.summaries}, {"situations", situations},
                      {"elapsed_ms", result.elapsed.count()}, {"hostname", result.hostname},
                      {"started", junit::iso_timestamp(result.started) + "Z"},
                      {"cells", cells}, {"gaps", gaps}, {"exprs", exprs.list}};
  // Replace, not throw, on invalid UTF-8: reports quote whatever the programs printed.
  auto json = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return std::string(page_head) + embeddable(json) + page_tail;
}

}  // namespace afterlife
