"""README's verdict tables, rendered from committed results only (never typed in by hand).

Two tables: the claims table of a committed report (``results/report-smoke/claims.json``, what the README's
first command reproduces), and every verdict of the longer committed runs (``results/**/evidence.json``).
README.md holds each between ``<!-- BEGIN name -->`` and ``<!-- END name -->``; ``grpo-verify claims
--readme`` prints what belongs there and a test checks that README.md says exactly that.

A results file that is missing or not what its command writes is a ``ValueError`` naming the file and the
command that makes it (``grpo-verify claims --readme`` exits 2 with that line).
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
REPORT_COMMAND = "grpo-verify report --budget smoke --seed 0 --out results/report-smoke"
"""The command that writes :data:`REPORT` (README's first command, with the committed folder as --out)."""
META_FIELDS = ("command", "seed", "wall_seconds", "device")
CLAIM_FIELDS = ("id", "title", "overall")
"""What :func:`claims_table` shows of the report's meta and of each row (besides a verdict per kind)."""
COMMITTED = Path("results")
RECORD_FIELDS = ("claim_id", "method", "title", "verdict")
"""What :func:`committed_table` shows of each evidence record."""
EVIDENCE_COMMANDS = ("`grpo-verify llm experiment`, `simulate`, `pretrained measure` or `ingest` with --out under "
                     f"{COMMITTED}/")
"""What writes an ``evidence.json`` into a committed results folder."""


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


def read_results(path: Path, root: Path, command: str) -> Any:
    """The JSON of the results file ``root/path``; missing or not JSON: a ValueError naming ``path`` and the
    ``command`` that makes it."""
    try:
        return json.loads((root / path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path} is missing; it must be there: {command} writes it") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} cannot be read as JSON ({exc}); it must be what {command} writes: run it again") \
            from None


def committed_table(root: Path = REPO_ROOT) -> str:
    """Every verdict of the committed runs (``root/results/**/evidence.json``), by claim in the claims table's
    order; none found, or one without the fields shown, is a ValueError naming the file and its command."""
    order = {c.id: i for i, c in enumerate(CLAIMS)}
    records = []
    paths = sorted((root / COMMITTED).rglob("evidence.json"))
    if not paths:
        raise ValueError(f"{COMMITTED}/**/evidence.json: none found; the committed runs must hold them "
                         f"({EVIDENCE_COMMANDS} writes one)")
    for path in paths:
        relative = path.relative_to(root)
        data = read_results(relative, root, EVIDENCE_COMMANDS)
        meta = data.get("meta") if isinstance(data, dict) else None
        command = meta.get("command", "?") if isinstance(meta, dict) else "?"
        evidence = data.get("evidence") if isinstance(data, dict) else None
        if not isinstance(evidence, list) or not all(isinstance(e, dict) and all(k in e for k in RECORD_FIELDS)
                                                     for e in evidence):
            made_by = f"`{command}`" if command != "?" else EVIDENCE_COMMANDS
            raise ValueError(f"{relative} must hold 'evidence', a list of records with {', '.join(RECORD_FIELDS)}: "
                             f"what {made_by} writes; run it again")
        records += [(order.get(e["claim_id"], len(order)), e["claim_id"], e["method"], e["title"], e["verdict"],
                     relative.parent.as_posix(), command) for e in evidence]
    lines = [_row(["id", "kind", "evidence", "verdict", "folder", "command"]), "|---|---|---|---|---|---|"]
    lines += [_row([cid, kind, title, f"**{verdict}**", f"[{folder}]({folder})", f"`{command}`"])
              for _, cid, kind, title, verdict, folder, command in sorted(records, key=lambda r: (r[0], r[2], r[5]))]
    return "\n".join(lines)


def rendered_blocks(root: Path = REPO_ROOT) -> dict[str, str]:
    """What README.md must hold between its markers, by block name, from the results under ``root``."""
    payload = read_results(REPORT, root, f"`{REPORT_COMMAND}`")
    meta = payload.get("meta") if isinstance(payload, dict) else None
    rows = payload.get("claims") if isinstance(payload, dict) else None
    if not (isinstance(meta, dict) and all(k in meta for k in META_FIELDS)
            and isinstance(meta["wall_seconds"], (int, float)) and isinstance(rows, list)
            and all(isinstance(r, dict) and all(k in r for k in (*CLAIM_FIELDS, *rows[0])) for r in rows)):
        raise ValueError(f"{REPORT} must hold meta ({', '.join(META_FIELDS)}) and claims (rows with "
                         f"{', '.join(CLAIM_FIELDS)} and a verdict per kind): what `{REPORT_COMMAND}` writes; run it "
                         "again")
    return {"claims-table": claims_table(payload), "committed-results": committed_table(root)}


def readme_blocks(text: str) -> dict[str, str]:
    """The blocks README.md holds between ``<!-- BEGIN name -->`` and ``<!-- END name -->``."""
    return {m.group(1): m.group(2).strip("\n")
            for m in re.finditer(r"<!-- BEGIN ([\w-]+) -->\n(.*?)<!-- END \1 -->", text, flags=re.S)}
