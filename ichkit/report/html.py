"""The report as one self-contained HTML page that prints well (A4, images inlined, tables and
figures never split across pages), rendered from `build_report`'s dict and the key images."""

from __future__ import annotations

import html

from ..anatomy.text import readout_rows
from ..measure import ABC2_SCOPES

CSS = """
body{font-family:sans-serif;font-size:10.5pt;max-width:60em;margin:1.5em auto;color:#111}
h1{font-size:16pt;margin:.2em 0} h2{font-size:12.5pt;border-bottom:1px solid #999;margin-top:1.2em}
table{border-collapse:collapse;margin:.4em 0;break-inside:avoid} td,th{padding:.15em .6em;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left} #scores td:nth-child(n+5){text-align:left}
.warn{color:#b00;font-weight:bold;border:2px solid #b00;padding:.3em .6em}
.small{font-size:8.5pt;color:#444} figure{display:inline-block;width:48%;margin:.5% .5%;break-inside:avoid;vertical-align:top}
figure img{width:100%;image-rendering:pixelated} figcaption{font-size:8.5pt}
@page{size:A4;margin:12mm} @media print{body{margin:0;max-width:none} h2{break-after:avoid}}
"""


def _e(v) -> str:
    return html.escape(str(v))


def _num(v, fmt: str = ".2f") -> str:
    return "n/a" if v is None else format(v, fmt)


def _table(head: list[str], rows: list[list[str]], ident: str = "") -> str:
    id_attr = f' id="{ident}"' if ident else ""
    return (f"<table{id_attr}><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows) + "</table>")


def _scores(scores: dict) -> str:
    rows, details = [], []
    for key, s in scores.items():
        total = _e(s["total"]) if s["total"] is not None else f"{s['possible_totals'][0]}-{s['possible_totals'][1]} possible"
        rows.append([_e(s["name"]), _e(s["status"]), f"{total} / {s['max_total']}", f"{s['imaging_points']}",
                     _e(s["interpretation"] or ""), _e("; ".join(s["missing"]))])
        items = [[_e(i["item"]), _e(i["source"]), _e("not given" if i["value"] is None else _fmt_value(i["value"])),
                  _e("?" if i["points"] is None else i["points"]), _e(i["rule"])] for i in s["items"]]
        details.append(f'<h3 id="score-{_e(key)}">{_e(s["name"])}</h3>' + _table(["item", "from", "value", "points", "published points"], items)
                       + "".join(f'<p class="small">{_e(n)}</p>' for n in s["notes"]) + f'<p class="small">{_e(s["reference"])}</p>')
    return _table(["score", "status", "total", "from imaging", "meaning", "missing"], rows, "scores") + "".join(details)


def _fmt_value(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def _volumes(volumes: dict) -> str:
    rows = [[_e(k), _num(m["mesh_ml"]), _num(m["voxel_ml"]), _num(m["abc2_ml"]), _e(m.get("components", ""))] for k, m in volumes.items()]
    scope = next((m.get("abc2_scope") for m in volumes.values() if m.get("abc2_scope")), ABC2_SCOPES["main"])
    return _table(["region", "mesh (mL)", "voxel (mL)", "ABC/2 (mL)", "components"], rows, "volumes") + f'<p class="small">ABC/2 of the {_e(scope)}.</p>'


def _readout(r: dict | None) -> str:
    """The read-out's rows in the words `ich readout` and the risk panels use (`anatomy.text`)."""
    if not r:
        return "<p>No read-out.</p>"
    return '<ul id="readout">' + "".join(f'<li class="{row["part"]}">{_e(row["text"])}</li>' for row in readout_rows(r)) + "</ul>"


def _followup(f: dict) -> str:
    names = f["timepoints"]
    head = ["region", "volume", *names, *[f"change {n}" for n in names[1:]]]
    rows = []
    for r in f["rows"]:
        changes = [f"{d:+.2f} mL" + (f" ({100 * rel:+.0f} %)" if rel is not None else "") for d, rel in zip(r["change_ml"][1:], r["change_rel"][1:])]
        rows.append([_e(r["region"]), _e(r["volume"].replace("_ml", "")), *[_num(v) for v in r["values"]], *changes])
    he = [[_e(v["followup"]), _num(v["baseline_ml"]), _num(v["followup_ml"]), f"{v['growth_ml']:+.2f}",
           "n/a" if v["relative_growth"] is None else f"{100 * v['relative_growth']:+.0f} %",
           "YES" if v["expansion"] else "no", "n/a" if v["revised_expansion"] is None else ("YES" if v["revised_expansion"] else "no")]
          for v in f["expansion"]]
    per_tp = [[_e(n), _e(", ".join(s["present"]) if s["status"] != "undetermined" else f"undetermined ({s['reason']})"),
               _e(_num(m["shift_mm"], ".1f") + " mm" if m["status"] != "undetermined" else f"undetermined ({m['reason']})")]
              for n, s, m in zip(names, f["signs"], f["midline"])]
    return (_table(head, rows, "followup-volumes")
            + "<p>Hematoma expansion (IPH mesh volume; HE: growth &gt; 6 mL or &gt; 33 %; revised: also new IVH or IVH growth &ge; 1 mL):</p>"
            + _table(["follow-up", "baseline (mL)", "follow-up (mL)", "growth (mL)", "relative", "HE", "revised HE"], he, "expansion")
            + _table(["time point", "signs present", "midline shift"], per_tp, "followup-readout"))


def report_html(report: dict, images: list[dict]) -> str:
    notice = f'<p class="warn" id="demo-notice">{_e(report["notice"].capitalize())}: the mask comes from a model trained on phantoms.</p>' if report.get("notice") else ""
    base = report["timepoints"][0]
    sources = "".join(f"<li>{_e(tp['name'])}: {_e(tp['mask_source']['text'])}"
                      + (f" ({_e(', '.join(f'{k} {v}' for k, v in tp['inputs'].items()))})" if tp.get("inputs") else "") + "</li>"
                      for tp in report["timepoints"])
    figures = "".join(f'<figure><img alt="{_e(i["title"])}" src="data:image/png;base64,{i["png"]}"><figcaption><b>{_e(i["title"])}</b>: {_e(i["caption"])}</figcaption></figure>'
                      for i in images)
    followup = f'<h2>Follow-up</h2>{_followup(report["followup"])}' if report.get("followup") else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ICH report</title><style>{CSS}</style></head>
<body><h1>Intracerebral hemorrhage report</h1>
{notice}<p class="small">Created {_e(report["created"])} by ichkit {_e(report["ichkit_version"])}. Masks:</p><ul class="small">{sources}</ul>
<h2>Scores</h2>{_scores(report["scores"])}
<h2>Volumes ({_e(base["name"])})</h2>{_volumes(base["volumes"])}
<h2>Imaging read-out ({_e(base["name"])})</h2>{_readout(base["readout"])}
{followup}
<h2>Key images</h2><div id="key-images">{figures or "<p>No hematoma to show.</p>"}</div>
<p class="small">Research software; every figure is to be checked by a reader. {_e(report["notice"] or "")}</p>
</body></html>
"""
