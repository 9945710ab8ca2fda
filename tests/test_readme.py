"""README's verdict tables are what the committed results say (grpo_verify.readme_tables)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from grpo_verify.readme_tables import (
    COMMITTED,
    REPO_ROOT,
    REPORT,
    REPORT_COMMAND,
    claims_table,
    readme_blocks,
    rendered_blocks,
)


def test_readme_tables_equal_the_committed_results() -> None:
    blocks = readme_blocks((REPO_ROOT / "README.md").read_text())
    assert set(blocks) == {"claims-table", "committed-results"}
    assert blocks == rendered_blocks()


def test_claims_table_shows_each_verdict_of_the_report() -> None:
    payload = {"meta": {"command": "grpo-verify report --budget smoke", "seed": 0, "wall_seconds": 61.2,
                        "device": "CPU"},
               "claims": [{"id": "TT-9", "title": "t", "proof": "not checked", "llm": "inconclusive",
                           "overall": "inconclusive"}]}
    table = claims_table(payload).splitlines()
    assert table[2] == "| id | claim | proof | llm | overall |"
    assert table[4] == "| TT-9 | t | not checked | inconclusive | **inconclusive** |"


def test_readme_blocks_are_read_between_their_markers() -> None:
    text = "x\n<!-- BEGIN a -->\n| 1 |\n<!-- END a -->\n<!-- BEGIN b -->\nz\n<!-- END b -->\n"
    assert readme_blocks(text) == {"a": "| 1 |", "b": "z"}
    assert json.dumps(readme_blocks("no markers")) == "{}"


# --- a results file missing or not what its command writes: a ValueError naming the file and the command -------

def committed_copy(root: Path) -> Path:
    """The results files the tables read (the report and every evidence.json), copied under ``root``."""
    for path in [REPO_ROOT / REPORT, *sorted((REPO_ROOT / COMMITTED).rglob("evidence.json"))]:
        target = root / path.relative_to(REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return root


def test_the_tables_read_from_any_root_holding_the_results(tmp_path: Path) -> None:
    assert rendered_blocks(committed_copy(tmp_path)) == rendered_blocks()


def test_the_report_command_is_the_one_that_wrote_the_committed_report() -> None:
    assert json.loads((REPO_ROOT / REPORT).read_text())["meta"]["command"] == REPORT_COMMAND


def test_a_missing_report_names_the_file_and_the_command_that_makes_it(tmp_path: Path) -> None:
    (committed_copy(tmp_path) / REPORT).unlink()
    with pytest.raises(ValueError, match=rf"^{REPORT} is missing; it must be there: `{REPORT_COMMAND}` writes it$"):
        rendered_blocks(tmp_path)


@pytest.mark.parametrize(("text", "says"), [
    ('{"meta": {"command": "x"', "cannot be read as JSON"),  # truncated
    ('{"claims": []}', "must hold meta (command, seed, wall_seconds, device)"),
    ('{"meta": {"command": "c", "seed": 0, "wall_seconds": 1, "device": "CPU"}, "claims": [{"id": "TT-1"}]}',
     "and claims (rows with id, title, overall"),
])
def test_a_malformed_report_names_the_file_and_the_command(tmp_path: Path, text: str, says: str) -> None:
    (committed_copy(tmp_path) / REPORT).write_text(text)
    with pytest.raises(ValueError) as exc:
        rendered_blocks(tmp_path)
    assert str(exc.value).startswith(str(REPORT)) and says in str(exc.value) and f"`{REPORT_COMMAND}`" in str(exc.value)


def test_no_committed_evidence_names_what_is_missing(tmp_path: Path) -> None:
    root = committed_copy(tmp_path)
    for path in (root / COMMITTED).rglob("evidence.json"):
        path.unlink()
    with pytest.raises(ValueError, match=r"^results/\*\*/evidence\.json: none found; the committed runs must hold"):
        rendered_blocks(root)


def test_an_evidence_record_without_its_verdict_names_the_file_and_its_command(tmp_path: Path) -> None:
    path = committed_copy(tmp_path) / COMMITTED / "sim-default" / "evidence.json"
    data = json.loads(path.read_text())
    del data["evidence"][-1]["verdict"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError) as exc:
        rendered_blocks(tmp_path)
    assert str(exc.value) == ("results/sim-default/evidence.json must hold 'evidence', a list of records with "
                              f"claim_id, method, title, verdict: what `{data['meta']['command']}` writes; run it "
                              "again")
