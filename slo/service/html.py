"""The page skeleton and the small pieces every view uses: inline CSS, no script, no CDN.

Everything interpolated into HTML goes through ``esc``; the pieces return markup strings.
"""

from __future__ import annotations

from html import escape

from slo.service import fmt

REFRESH_SECONDS = 15

CSS = """
:root { --fg:#1d2330; --muted:#5b6475; --line:#e3e6ec; --bg:#f6f7f9; --card:#fff;
  --ok:#1a7f37; --warn:#b35900; --bad:#c0262d; --nodata:#8a93a3; --accent:#0b5cad; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg);
  background:var(--bg); }
header { background:#141a26; color:#fff; padding:12px 28px; display:flex; align-items:center; gap:16px; }
header .brand { font-weight:650; font-size:16px; letter-spacing:.2px; }
header .brand a { color:#fff; text-decoration:none; }
header .source { margin-left:auto; font-size:12px; color:#c6ccd8; }
header .dot { display:inline-block; width:8px; height:8px; border-radius:50%; margin-right:6px;
  background:#3fb950; }
header .dot.down { background:#f85149; }
header .dot.idle { background:#8a93a3; }
main { max-width:1320px; margin:0 auto; padding:20px 28px 40px; }
h1 { font-size:20px; margin:4px 0 2px; }
h2 { font-size:15px; margin:26px 0 10px; }
p.sub { color:var(--muted); margin:0 0 16px; }
a { color:var(--accent); }
.summary { display:flex; gap:12px; margin:6px 0 18px; flex-wrap:wrap; }
.stat { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 16px;
  min-width:150px; }
.stat .n { font-size:22px; font-weight:650; }
.stat .l { color:var(--muted); font-size:12px; }
.stat.bad .n { color:var(--bad); } .stat.warn .n { color:var(--warn); } .stat.ok .n { color:var(--ok); }
table { width:100%; border-collapse:collapse; background:var(--card); border:1px solid var(--line);
  border-radius:8px; overflow:hidden; }
th, td { padding:9px 12px; text-align:left; border-bottom:1px solid var(--line); vertical-align:middle; }
th { background:#eef0f4; font-size:12px; color:var(--muted); font-weight:600; text-transform:uppercase;
  letter-spacing:.3px; }
tr:last-child td { border-bottom:0; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td .desc { color:var(--muted); font-size:12px; font-style:normal; }
td.slo { min-width:300px; }
td.slo a { font-weight:600; white-space:nowrap; }
td.nowrap, th.nowrap { white-space:nowrap; }
.nodata { color:var(--nodata); font-style:italic; }
tr.row-nodata td.slo a { color:#4a5568; }
.bar { position:relative; width:130px; height:16px; background:#eceef2; border-radius:4px; overflow:hidden;
  display:inline-block; vertical-align:middle; }
.bar > span { position:absolute; left:0; top:0; bottom:0; }
.bar.ok > span { background:#2da44e; } .bar.warn > span { background:#d4861a; }
.bar.bad > span { background:#d1242f; }
.budget { display:flex; align-items:center; gap:10px; white-space:nowrap; }
.budget .v { min-width:64px; text-align:right; font-variant-numeric:tabular-nums; }
.budget .v small { display:block; color:var(--muted); font-size:11px; }
.budget .v.bad { color:var(--bad); font-weight:600; }
.pill { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600;
  margin:1px 4px 1px 0; white-space:nowrap; }
.pill.page { background:#ffe0e0; color:#a40e26; border:1px solid #f5b5b9; }
.pill.ticket { background:#fff0d6; color:#8a4b00; border:1px solid #f0cf96; }
.pill.quiet { background:#e7f5ec; color:#1a7f37; border:1px solid #b7e1c3; }
.pill.nodata { background:#eef0f4; color:#5b6475; border:1px solid #d6dae2; font-style:normal; }
.labels { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:12px; color:#3a4252; }
.banner { border-radius:8px; padding:14px 18px; margin:0 0 18px; border:1px solid; }
.banner.down { background:#fff1f1; border-color:#f3b4b7; color:#7d1116; }
.banner.down strong { display:block; font-size:15px; margin-bottom:4px; }
.banner code { font-size:12px; background:#fff; padding:2px 6px; border-radius:4px; border:1px solid #f3d0d2;
  word-break:break-all; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(260px,1fr)); gap:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
.card dl { display:grid; grid-template-columns:auto 1fr; gap:4px 14px; margin:8px 0 0; }
.card dt { color:var(--muted); } .card dd { margin:0; text-align:right; font-variant-numeric:tabular-nums; }
.chartbox { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 12px; }
.chartbox svg { width:100%; height:auto; display:block; }
.ranges { font-size:12px; margin:6px 0 0; color:var(--muted); }
.ranges a, .ranges b { margin-right:10px; }
.meta { color:var(--muted); font-size:13px; }
footer { color:var(--muted); font-size:12px; margin-top:28px; }
"""


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def layout(title: str, body: str, *, source: str, source_ok: bool | None, refresh: bool = True) -> str:
    """``source_ok`` None: this page did not ask Prometheus, so it claims nothing about it."""
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    dot, state = {True: ("dot", "answering"), False: ("dot down", "not answering"), None: ("dot idle", "")}[source_ok]
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{meta}"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        "<header><div class=\"brand\"><a href=\"/\">enginewatch · SLO status</a></div>"
        f"<div class=\"source\"><span class=\"{dot}\"></span>Prometheus {esc(source)} {state}</div></header>"
        f"<main>{body}<footer>Refreshes every {REFRESH_SECONDS} s. JSON API: <a href=\"/api/v1/slos\">"
        "/api/v1/slos</a> · OpenAPI schema: <a href=\"/openapi.json\">/openapi.json</a> · metrics: "
        "<a href=\"/metrics\">/metrics</a></footer></main></body></html>"
    )


def no_data() -> str:
    return f'<span class="nodata">{fmt.NO_DATA}</span>'


def value(text: str) -> str:
    """A formatted number, shown greyed out when it is "no data"."""
    return no_data() if text == fmt.NO_DATA else esc(text)


def budget_class(remaining: float | None) -> str:
    if remaining is None:
        return "nodata"
    if remaining <= 0.1:
        return "bad"
    return "warn" if remaining <= 0.5 else "ok"


def budget_bar(remaining: float | None) -> str:
    if remaining is None:
        return f'<div class="budget"><span class="bar"></span><span class="v">{no_data()}</span></div>'
    width = max(0.0, min(1.0, remaining)) * 100
    if remaining <= 0:
        # How far over matters too: -5000% is an outage, -3% a close call.
        text = f'exhausted<small>{esc(fmt.percent(remaining, 0))}</small>'
        cls = "v bad"
    else:
        text, cls = esc(fmt.percent(remaining, 1)), "v"
    return (f'<div class="budget"><span class="bar {budget_class(remaining)}" role="meter" '
            f'aria-valuenow="{remaining:.4f}" aria-label="error budget remaining"><span style="width:{width:.1f}%">'
            f'</span></span><span class="{cls}">{text}</span></div>')


def pill(text: str, kind: str) -> str:
    return f'<span class="pill {esc(kind)}">{esc(text)}</span>'


def labels(group: dict[str, str]) -> str:
    if not group:
        return '<span class="labels">all</span>'
    return '<span class="labels">' + esc(", ".join(f"{k}={v}" for k, v in group.items())) + "</span>"


def data_source_banner(error: str) -> str:
    return ('<div class="banner down" role="alert"><strong>Prometheus is not answering: error budgets cannot '
            "be shown right now.</strong>The data source said: <code>"
            f"{esc(error)}</code><br>Budgets, SLIs and alert tiers are unknown until it answers (unknown, not "
            "zero). This page recovers by itself as soon as Prometheus is back.</div>")
