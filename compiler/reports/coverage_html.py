"""The action-path map as one self-contained HTML page, from the JSON report.

No external assets: the CSS and the few lines of JavaScript that filter the path table
are inline, so the page can be attached to a CI run or mailed as it is. Every value from
the report is HTML-escaped. Without JavaScript the page still shows everything; the
filters only hide rows.
"""

from __future__ import annotations

from html import escape
from typing import Any

from dualgate.compiler.reports.coverage_table import env_label, outcome_text

_TIERS = ("high", "medium", "low")
_DECISIONS = ("allow", "throttle", "require_human", "deny")
_FLAGS = ("unclassified", "high-allow", "fail-open", "default-only")
_CARD_LABELS = {"unclassified": "unclassified paths", "high-allow": "high-tier paths allowed",
                "fail-open": "paths failing open", "default-only": "paths only the default decides",
                "malformed": "malformed catalog entries"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px 32px;
color:#1d232a;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.sub{color:#5b6570;margin:0 0 18px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #dde2e7;border-radius:8px;padding:10px 14px;
min-width:112px}
.card b{display:block;font-size:22px}.card.risk b{color:#b42318}
.card span{color:#5b6570;font-size:12px}
.heatmaps{display:flex;gap:20px;flex-wrap:wrap}
.heatmap{background:#fff;border:1px solid #dde2e7;border-radius:8px;padding:10px 14px}
.heatmap h3{font-size:14px;margin:0 0 8px}
table{border-collapse:collapse}
.heatmap td,.heatmap th{padding:5px 10px;text-align:center;font-variant-numeric:tabular-nums}
.heatmap th{font-weight:600;font-size:12px;color:#5b6570}
.heatmap td.zero{color:#a9b1b9}
.heatmap td.risk{outline:2px solid #b42318;outline-offset:-2px;font-weight:700}
.filters{display:flex;gap:10px;margin:0 0 10px;flex-wrap:wrap;align-items:center}
.filters input,.filters select{font:inherit;padding:4px 8px;border:1px solid #c4ccd4;
border-radius:6px;background:#fff}
#shown{color:#5b6570}
table.paths{width:100%;background:#fff;border:1px solid #dde2e7}
.paths th{position:sticky;top:0;background:#eef1f4;text-align:left;padding:6px 8px;
font-size:12px}
.paths td{padding:5px 8px;border-top:1px solid #eef1f4;vertical-align:top}
.paths td.topic{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
.desc{display:block;color:#5b6570;font-family:system-ui,sans-serif;font-size:12px}
.tier{border-radius:10px;padding:1px 8px;font-size:12px;font-weight:600}
.tier-high{background:#fde2e1;color:#912018}.tier-medium{background:#fef0c7;color:#93370d}
.tier-low{background:#dcfae6;color:#085d3a}
.d-allow{color:#067647}.d-throttle{color:#b54708}.d-require_human{color:#175cd3}
.d-deny{color:#b42318}
.flag{background:#b42318;color:#fff;border-radius:4px;padding:0 6px;font-size:12px;
margin-right:4px;white-space:nowrap}
.open{color:#b54708;font-weight:600}
ul.malformed{color:#93370d}
"""

_SCRIPT = """
(function(){
  var rows=[].slice.call(document.querySelectorAll('table.paths tbody tr'));
  var text=document.getElementById('q');
  var picks=[].slice.call(document.querySelectorAll('.filters select'));
  var shown=document.getElementById('shown');
  function apply(){
    var q=text.value.trim().toLowerCase(), n=0;
    rows.forEach(function(row){
      var ok=!q||row.dataset.topic.toLowerCase().indexOf(q)>=0;
      picks.forEach(function(s){
        if(ok&&s.value){ok=(' '+row.dataset[s.name]+' ').indexOf(' '+s.value+' ')>=0;}
      });
      row.hidden=!ok; if(ok){n++;}
    });
    shown.textContent=n+' of '+rows.length+' paths';
  }
  text.addEventListener('input',apply);
  picks.forEach(function(s){s.addEventListener('change',apply);});
  apply();
})();
"""


def _heat(count: int, largest: int, decision: str) -> str:
    """An inline background whose strength grows with ``count`` (hue per decision)."""
    if not count:
        return ""
    hue = {"allow": 145, "throttle": 35, "require_human": 215, "deny": 0}[decision]
    lightness = 92 - int(42 * count / largest)
    text = "#fff" if lightness < 62 else "#1d232a"
    return f' style="background:hsl({hue},70%,{lightness}%);color:{text}"'


def _heatmap(env: dict[str, Any], largest: int) -> str:
    label = escape(env_label(env["env"])) + (" (protected)" if env["protected"] else "")
    head = "".join(f"<th>{escape(d)}</th>" for d in _DECISIONS)
    body = []
    for tier in _TIERS:
        cells = []
        for decision in _DECISIONS:
            count = env["counts"][tier][decision]
            # A high-tier path that can be allowed is the risk the map exists to show.
            kind = ("zero" if not count else
                    "risk" if (tier, decision) == ("high", "allow") else "")
            css = f' class="{kind}"' if kind else ""
            cells.append(f"<td{css}{_heat(count, largest, decision)}>{count}</td>")
        body.append(f'<tr><th><span class="tier tier-{tier}">{tier}</span></th>'
                    f"{''.join(cells)}</tr>")
    return (f'<div class="heatmap" data-env="{escape(str(env["env"]))}"><h3>{label}</h3>'
            f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}"
            "</tbody></table></div>")


def _row(path: dict[str, Any]) -> str:
    decisions = " ".join(sorted({o["decision"] for o in path["outcomes"]}))
    topic = escape(path["topic"])
    description = (f'<span class="desc">{escape(path["description"])}</span>'
                   if "description" in path else "")
    outcomes = "<br>".join(
        f'<span class="d-{escape(o["decision"])}">{escape(outcome_text(o))}</span>'
        for o in path["outcomes"])
    flags = "".join(f'<span class="flag">{escape(f)}</span>' for f in path["flags"])
    env = escape(env_label(path["env"])) + (" (protected)" if path["protected"] else "")
    mode = path["fail_mode"]
    mode_cell = f'<span class="open">{mode}</span>' if mode == "open" else mode
    return (
        f'<tr data-topic="{topic}" data-env="{escape(env_label(path["env"]))}" '
        f'data-tier="{path["tier"]}" data-decision="{decisions}" '
        f'data-flag="{escape(" ".join(path["flags"]))}">'
        f'<td class="topic">{topic}{description}</td><td>{env}</td>'
        f'<td><span class="tier tier-{path["tier"]}">{path["tier"]}</span></td>'
        f"<td>{mode_cell}</td><td>{outcomes}</td><td>{flags}</td></tr>"
    )


def _select(name: str, label: str, values: list[str]) -> str:
    options = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)
    return (f'<label>{label} <select name="{name}"><option value="">any</option>'
            f"{options}</select></label>")


def render_html(report: dict[str, Any]) -> str:
    summary = report["summary"]
    policy = escape(report["policy"])
    flags = summary["flags"]
    cards = [f'<div class="card"><b>{summary["classified_share"] * 100:.1f}%</b>'
             f'<span>of {summary["topics"]} topics classified</span></div>',
             f'<div class="card"><b>{summary["paths"]}</b><span>paths</span></div>']
    cards += [f'<div class="card{" risk" if count else ""}" data-flag="{escape(flag)}">'
              f"<b>{count}</b><span>{escape(_CARD_LABELS[flag])}</span></div>"
              for flag, count in flags.items()]
    largest = max([1] + [c for env in summary["by_env"] for tier in env["counts"].values()
                         for c in tier.values()])
    heatmaps = "".join(_heatmap(env, largest) for env in summary["by_env"])
    malformed = ""
    if report["malformed"]:
        items = "".join(f"<li>line {m['line']}: <code>{escape(m['text'])}</code>: "
                        f"{escape(m['reason'])}</li>" for m in report["malformed"])
        malformed = f'<h2>Malformed catalog entries</h2><ul class="malformed">{items}</ul>'
    envs = [env_label(env["env"]) for env in summary["by_env"]]
    filters = (
        '<div class="filters"><input id="q" type="search" placeholder="filter topics" '
        'aria-label="filter topics">'
        + _select("env", "env", envs) + _select("tier", "tier", list(_TIERS))
        + _select("decision", "decision", list(_DECISIONS))
        + _select("flag", "flag", list(_FLAGS)) + '<span id="shown"></span></div>'
    )
    rows = "".join(_row(path) for path in report["paths"])
    source = ("catalog topics" if report["source"] == "catalog"
              else "the policy's own topic classes")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>Action-path map: {policy}'
        f'</title><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_CSS}</style></head><body>"
        f"<h1>Action-path map of <code>{policy}</code></h1>"
        f'<p class="sub">Every action path ({source}, in each env): its risk tier, '
        "effective fail mode and every outcome over all request networks.</p>"
        f'<div class="cards">{"".join(cards)}</div>'
        "<h2>Tier &times; decision per env</h2>"
        '<p class="sub">Paths of each tier that can get each decision.</p>'
        f'<div class="heatmaps">{heatmaps}</div>{malformed}'
        f"<h2>Paths</h2>{filters}"
        '<table class="paths"><thead><tr><th>Topic</th><th>Env</th><th>Tier</th>'
        "<th>Fail mode</th><th>Outcomes</th><th>Flags</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )
