"""README's verdict tables are what the committed results say (grpo_verify.readme_tables)."""

from __future__ import annotations

import json

from grpo_verify.readme_tables import REPO_ROOT, claims_table, readme_blocks, rendered_blocks


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
