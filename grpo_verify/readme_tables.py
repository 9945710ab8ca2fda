"""README's verdict tables, rendered from committed results only (never typed in by hand).

Two tables: the claims table of a committed report (``results/report-smoke/claims.json``, what the README's
first command reproduces), and every verdict of the longer committed runs (``results/**/evidence.json``).
README.md holds each between ``<!-- BEGIN name -->`` and ``<!-- END name -->``; ``grpo-verify claims
--readme`` prints what belongs there and a test checks that README.md says exactly that.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from evidence.record import METHODS
from grpo_verify.claims import CLAIMS

REPO_ROOT = Path(__file__).resolve().parents[1]
REPORT = Path("results/report-smoke/claims.json")
"""The committed report whose claims table README shows."""
COMMITTED = Path("results")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def claims_table(payload: dict[str, Any], source: Path = REPORT) -> str:
    """The report's claims table: one row per claim, a verdict per kind of check, the overall verdict."""
    rows = payload["claims"]
    kinds = [m for m in METHODS if rows and m in rows[0]]
    meta = payload["meta"]
    lines = [f"`{meta['command']}` (seed {meta['seed']}, {meta['wall_seconds']:.0f} s on {meta['device']}; "
             f"[{source}]({source})):", "",
             _row(["id", "claim", *kinds, "overall"]), "|" + "---|" * (len(kinds) + 3)]
    lines += [_row([r["id"], r["title"], *(r[k] for k in kinds), f"**{r['overall']}**"]) for r in rows]
    return "\n".join(lines)


def committed_table(root: Path = COMMITTED) -> str:
    """Every verdict of the committed runs (``root/**/evidence.json``), by claim in the claims table's order."""
    order = {c.id: i for i, c in enumerate(CLAIMS)}
    records = []
    for path in sorted((REPO_ROOT / root).rglob("evidence.json")):
        data = json.loads(path.read_text())
        folder = path.parent.relative_to(REPO_ROOT).as_posix()
        command = data.get("meta", {}).get("command", "?")
        records += [(order.get(e["claim_id"], len(order)), e["claim_id"], e["method"], e["title"], e["verdict"],
                     folder, command) for e in data.get("evidence", [])]
    lines = [_row(["id", "kind", "evidence", "verdict", "folder", "command"]), "|---|---|---|---|---|---|"]
    lines += [_row([cid, kind, title, f"**{verdict}**", f"[{folder}]({folder})", f"`{command}`"])
              for _, cid, kind, title, verdict, folder, command in sorted(records, key=lambda r: (r[0], r[2], r[5]))]
    return "\n".join(lines)


def rendered_blocks() -> dict[str, str]:
    """What README.md must hold between its markers, by block name."""
    payload = json.loads((REPO_ROOT / REPORT).read_text())
    return {"claims-table": claims_table(payload), "committed-results": committed_table()}


def readme_blocks(text: str) -> dict[str, str]:
    """The blocks README.md holds between ``<!-- BEGIN name -->`` and ``<!-- END name -->``."""
    return {m.group(1): m.group(2).strip("\n")
            for m in re.finditer(r"<!-- BEGIN ([\w-]+) -->\n(.*?)<!-- END \1 -->", text, flags=re.S)}
