"""The claims report: one table of the claims with a verdict per kind of evidence (the columns are
the kinds the claims table lists), then every piece of evidence with its numbers, derivation,
figures and the command that reproduces it, and the time of every check.

Written as ``report.md``, ``report.html`` (figures inline) and ``claims.json``, atomically.
"""

from __future__ import annotations

import base64
import html
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from evidence.io import atomic_write_json, atomic_write_text
from evidence.record import METHODS, Evidence, RunContext, Verdict, combine
from grpo_verify.claims import CLAIMS, Claim
from grpo_verify.runner import CheckCall, run_checks

PACKAGES = ("numpy", "scipy", "sympy", "torch", "matplotlib", "hypothesis", "trl")
REPO_ROOT = Path(__file__).resolve().parents[1]


def source_commit() -> str | None:
    """The git commit of the code that runs, with ``+dirty`` when a tracked file outside
    ``results/`` (where runs write) differs from that commit; None outside a git checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=True,
                              timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"))
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def run_metadata(ctx: RunContext, command: str) -> dict[str, Any]:
    """Versions, machine, device, seed, budget and source commit of this run."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import torch  # the top layer may; only to describe the device

    if torch.cuda.is_available():
        device = torch.cuda.get_device_name(0)
    else:
        device = f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return {
        "command": command,
        "commit": source_commit(),
        "budget": ctx.budget,
        "seed": ctx.seed,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": device,
        "packages": versions,
    }


def collect(calls: Sequence[CheckCall], ctx: RunContext) -> tuple[list[Evidence], list[dict[str, Any]]]:
    """Run the checks in order, with a progress bar; returns evidence and per-check timing."""
    evidence: list[Evidence] = []
    timings = []
    for result in run_checks(calls, ctx):
        evidence.extend(result.evidence)
        timings.append({"check": result.call.target, "kind": result.call.kind, "claims": list(result.call.claim_ids),
                        "seconds": round(result.seconds, 3), "error": result.error})
    return evidence, timings


def report_kinds(claims: Sequence[Claim] = CLAIMS) -> tuple[str, ...]:
    """The report's columns: the kinds of check the claims table lists, in the order of ``METHODS``."""
    return tuple(m for m in METHODS if any(m in claim.kinds for claim in claims))


def claim_rows(evidence: Sequence[Evidence], claims: Sequence[Claim] = CLAIMS) -> list[dict[str, Any]]:
    """One row per claim: verdict per kind (combined over that kind's records) and overall."""
    rows = []
    kinds = report_kinds(claims)
    for claim in claims:
        mine = [e for e in evidence if e.claim_id == claim.id]
        per_kind = {m: combine([e.verdict for e in mine if e.method == m]).value for m in kinds}
        rows.append({"id": claim.id, "title": claim.title, "source": claim.source, **per_kind,
                     "overall": combine([e.verdict for e in mine]).value, "evidence": len(mine)})
    return rows


def archived_results(root: Path = REPO_ROOT / "results") -> list[dict[str, Any]]:
    """Evidence committed under ``results/**/evidence.json`` by earlier runs (shown apart: these
    verdicts were computed by those runs, not by this one)."""
    found = []
    for path in sorted(root.rglob("evidence.json")) if root.is_dir() else []:
        data = json.loads(path.read_text())
        found.append({"path": str(path.relative_to(root.parent)), **data})
    return found


def _md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and len(value) > 12:
        return f"[{len(value)} values: {', '.join(_fmt(v) for v in value[:4])}, ...]"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _timing_rows(timings: list[dict[str, Any]]) -> list[list[object]]:
    return [[f"`{t['check']}`", t["kind"], ", ".join(t["claims"]), t["seconds"], "error" if t["error"] else "ok"]
            for t in timings]


TIMING_HEADER = ("check", "kind", "claims", "seconds", "status")


def render_markdown(rows: list[dict[str, Any]], evidence: Sequence[Evidence], meta: dict[str, Any],
                    timings: list[dict[str, Any]], archived: list[dict[str, Any]],
                    claims: Sequence[Claim] = CLAIMS) -> str:
    """The human report in Markdown (figures linked by relative path)."""
    kinds = report_kinds(claims)
    out = ["# grpo-verify claims report", "",
           f"Command: `{meta['command']}`  ",
           f"Budget `{meta['budget']}`, seed {meta['seed']}, {meta['date_utc']}, device: {meta['device']}, "
           f"Python {meta['python']} on {meta['platform']}, code at commit `{meta.get('commit')}`.", "",
           "Every verdict below was computed in this run from the checks listed with it.", "",
           "## Claims", "",
           _md_table(["id", "claim", *kinds, "overall"],
                     [[r["id"], r["title"], *[r[m] for m in kinds], f"**{r['overall']}**"] for r in rows]),
           "", "## Checks", "", "Each check function ran once, for the claims listed with it.", "",
           _md_table(TIMING_HEADER, _timing_rows(timings)), ""]
    for claim in claims:
        mine = [e for e in evidence if e.claim_id == claim.id]
        out += [f"## {claim.id}: {claim.title}", "", f"*{claim.source}.* {claim.statement}", "",
                "Checks: " + "; ".join(f"{c.kind} `{c.target}`" for c in claim.checks), ""]
        if not mine:
            out += ["No evidence in this run: **not checked**.", ""]
        for e in mine:
            out += [f"### [{e.method}] {e.title}: **{e.verdict.value}**", "", e.reason, ""]
            if e.checks:
                out += [_md_table(["check", "passed"], [[k, v] for k, v in e.checks.items()]), ""]
            if e.numbers:
                out += [_md_table(["quantity", "value"], [[k, _fmt(v)] for k, v in e.numbers.items()]), ""]
            if e.steps:
                out += ["Derivation:", "", *[f"{i}. {s}" if not s.startswith("```") else s
                                             for i, s in enumerate(e.steps, 1)], ""]
            out += [f"![{a}]({a})" for a in e.artefacts if a.endswith(".png")]
            out += [f"- data: [{a}]({a})" for a in e.artefacts if not a.endswith(".png")]
            out += [f"Reproduce: `{e.command}` ({e.seconds:.2f} s)" if e.command else f"({e.seconds:.2f} s)", ""]
    if archived:
        out += ["## Committed results of earlier runs", "",
                "Verdicts computed by the runs that made them (command and machine given); not re-run here.", ""]
        for a in archived:
            meta_a = a.get("meta", {})
            out += [f"### {a['path']}", "", f"Command: `{meta_a.get('command', '?')}` on {meta_a.get('device', '?')}, "
                    f"{meta_a.get('date_utc', '?')}", "",
                    _md_table(["claim", "method", "title", "verdict"],
                              [[e["claim_id"], e["method"], e["title"], e["verdict"]]
                               for e in a.get("evidence", [])]), ""]
    return "\n".join(out) + "\n"


def _html_image(out_dir: Path, artefact: str) -> str:
    path = out_dir / artefact
    if not path.is_file():
        return f"<p>(missing figure {html.escape(artefact)})</p>"
    data = base64.b64encode(path.read_bytes()).decode()
    name = html.escape(artefact)
    return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"/><figcaption>{name}</figcaption></figure>'


def _html_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="{html.escape(str(c))}">{html.escape(str(c))}</td>' for c in row)
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.45}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}
td.holds{background:#dfd}td.fails{background:#fdd}td.partly\\ holds{background:#ffd}td.error{background:#fcc}
img{max-width:100%}figure{margin:.5rem 0}pre{background:#f6f6f6;padding:.5rem;overflow-x:auto}"""


def render_html(rows: list[dict[str, Any]], evidence: Sequence[Evidence], meta: dict[str, Any],
                timings: list[dict[str, Any]], out_dir: Path, claims: Sequence[Claim] = CLAIMS) -> str:
    """The same report as one self-contained HTML page (figures inline; LaTeX typeset by MathJax when online)."""
    esc = html.escape
    kinds = report_kinds(claims)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>grpo-verify claims report</title>",
             f"<style>{STYLE}</style>",
             "<script>MathJax={tex:{inlineMath:[['$','$']]}}</script>",
             "<script async src='https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js'></script></head><body>",
             "<h1>grpo-verify claims report</h1>",
             f"<p>Command: <code>{esc(meta['command'])}</code><br>Budget {esc(meta['budget'])}, seed {meta['seed']}, "
             f"{esc(meta['date_utc'])}, device: {esc(meta['device'])}, code at commit "
             f"<code>{esc(str(meta.get('commit')))}</code></p>",
             "<h2>Claims</h2>",
             _html_table(["id", "claim", *kinds, "overall"],
                         [[r["id"], r["title"], *[r[m] for m in kinds], r["overall"]] for r in rows]),
             "<h2>Checks</h2>",
             _html_table(TIMING_HEADER, [[str(c).strip("`") for c in row] for row in _timing_rows(timings)])]
    for claim in claims:
        mine = [e for e in evidence if e.claim_id == claim.id]
        parts += [f"<h2 id='{claim.id}'>{claim.id}: {esc(claim.title)}</h2>",
                  f"<p><em>{esc(claim.source)}.</em> {esc(claim.statement)}</p>",
                  "<p>Checks: " + "; ".join(f"{c.kind} <code>{esc(c.target)}</code>" for c in claim.checks) + "</p>"]
        if not mine:
            parts.append("<p>No evidence in this run: <b>not checked</b>.</p>")
        for e in mine:
            verdict = esc(e.verdict.value)
            parts += [f"<h3>[{e.method}] {esc(e.title)}: <span class='{verdict}'>{verdict}</span></h3>",
                      f"<p>{esc(e.reason)}</p>"]
            if e.checks:
                parts.append(_html_table(["check", "passed"], [[k, v] for k, v in e.checks.items()]))
            if e.numbers:
                parts.append(_html_table(["quantity", "value"], [[k, _fmt(v)] for k, v in e.numbers.items()]))
            if e.steps:
                parts.append("<ol>" + "".join(
                    f"<li><pre>{esc(s.strip('`'))}</pre></li>" if s.startswith("```") else f"<li>{esc(s)}</li>"
                    for s in e.steps) + "</ol>")
            parts += [_html_image(out_dir, a) for a in e.artefacts if a.endswith(".png")]
            if e.command:
                parts.append(f"<p>Reproduce: <code>{esc(e.command)}</code> ({e.seconds:.2f} s)</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(ctx: RunContext, calls: Sequence[CheckCall], command: str,
                 claims: Sequence[Claim] = CLAIMS) -> dict[str, Any]:
    """Run the checks ``calls`` and write report.md, report.html and claims.json under
    ``ctx.out_dir``, with one row per claim of ``claims``. Returns the claims.json payload."""
    start = time.perf_counter()
    meta = run_metadata(ctx, command)
    evidence, timings = collect(calls, ctx)
    meta["wall_seconds"] = round(time.perf_counter() - start, 3)
    rows = claim_rows(evidence, claims)
    archived = archived_results()
    payload = {"meta": meta, "checks": timings, "claims": rows, "evidence": [e.to_json() for e in evidence],
               "archived": [a["path"] for a in archived]}
    out = ctx.out_dir
    atomic_write_json(out / "claims.json", payload)
    atomic_write_text(out / "report.md", render_markdown(rows, evidence, meta, timings, archived, claims))
    atomic_write_text(out / "report.html", render_html(rows, evidence, meta, timings, out, claims))
    return payload


def verdict_counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many claims end with each overall verdict."""
    counts = {v.value: 0 for v in Verdict}
    for r in rows:
        counts[r["overall"]] += 1
    return counts
