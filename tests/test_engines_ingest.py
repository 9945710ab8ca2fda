"""``grpo-verify ingest``: TRL and verl logs read back into the same record and evidence (TT-8, TT-9).

The TRL round trip: the exported 2-GRPO arm run by TRL 1.16's own GRPOTrainer for 3 steps on a tiny random
model (:mod:`gpu_runs.engines.trl_tiny`), then ingested: per step, the mean and std of the rewards and the
silent share computed from the completions parquet must equal what TRL logged in trainer_state.json.

verl cannot run here; its writer can. The committed fixture ``tests/fixtures/verl_run`` was written by verl
0.9.1's own ``_write_generations`` (extracted from its wheel and executed), and the tests regenerate it to
check that it still is byte for byte, that the keys our reader needs are the keys verl's writers dump, and that
verl's file logger writes the ``{"step", "data"}`` lines our reader expects.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engines_export import verl_source

from evidence.record import Verdict
from gpu_runs.engines.evidence import RunSummary, compare_evidence, silent_evidence
from gpu_runs.engines.run_log import Group, RunLog, StepRow, compare_silent_shares, silent_estimate
from gpu_runs.engines.trl_logs import CLIP_PREFIX, OPTIONAL_STEP_KEYS, read_trl_run
from gpu_runs.engines.verl_logs import METRIC_RANGES, ROLLOUT_FIELDS, read_verl_run
from grpo_verify.cli import main
from theory.paper import TT9_IMPROVEMENT_RATIO, TT9_SCORE_RATIO

FIXTURE = Path(__file__).parent / "fixtures" / "verl_run"
WRITERS = ("verl/trainer/ppo/v1/trainer_base.py", "verl/trainer/ppo/ray_trainer.py")
# The fixture's run: 4 prompts x G = 4 per step, 4 steps, the same prompts every step (one epoch a step).
PROMPTS = ("What is 2+3?", "What is 7*6?", "Solve x^2 = 49 for x > 0.", "What is 12/4?")
SCORES = {  # step -> each prompt's 4 rewards
    1: ((1, 1, 1, 1), (0, 0, 0, 0), (1, 0, 1, 0), (0, 0, 1, 0)),
    2: ((1, 1, 0, 1), (0, 0, 0, 0), (0, 1, 1, 0), (0, 0, 0, 0)),
    3: ((1, 1, 1, 1), (0, 1, 0, 0), (1, 1, 0, 0), (0, 0, 0, 1)),
    4: ((1, 1, 1, 1), (0, 0, 0, 0), (1, 0, 0, 1), (0, 1, 0, 0)),
}
SILENT = {1: 0.5, 2: 0.5, 3: 0.25, 4: 0.5}
STEP_SECONDS = {1: 31.5, 2: 30.25, 3: 29.75, 4: 30.5}


def verl_writer(module: str):
    """verl's own ``_write_generations`` (a static method), compiled from its source in the wheel."""
    tree = ast.parse(verl_source(module))
    function = next(node for node in ast.walk(tree)
                    if isinstance(node, ast.FunctionDef) and node.name == "_write_generations")
    function.decorator_list = []
    namespace = {"os": os, "json": json, "np": np}
    exec(compile(ast.Module(body=[function], type_ignores=[]), module, "exec"), namespace)
    return namespace["_write_generations"]


def write_verl_run(folder: Path, scores: dict[int, tuple], *, module: str = WRITERS[0], seconds=STEP_SECONDS) -> None:
    """A run folder as verl writes it: rollouts/{step}.jsonl by verl's writer (v1: uid = {sample}_{rollout}_0),
    metrics.jsonl as verl's file logger writes it (orjson: no spaces)."""
    write = verl_writer(module)
    for step, groups in scores.items():
        rows = [(q, i, r) for q, rewards in enumerate(groups) for i, r in enumerate(rewards)]
        uids = [f"{step:02d}{q:02d}aa00-prompt-{q}_{i}_0" for q, i, _ in rows]
        extra = {"uid": uids} if "v1" in module else {"acc": [float(r) for _, _, r in rows]}
        write([PROMPTS[q] for q, _, _ in rows], [f"answer {i}" for _, i, _ in rows], [str(q) for q, _, _ in rows],
              [float(r) for _, _, r in rows], extra, str(folder / "rollouts"), step)
    with open(folder / "metrics.jsonl", "w") as f:
        for step in scores:
            data = {"timing_s/step": seconds[step], "critic/score/mean": float(np.mean(scores[step])),
                    "response_length/mean": 8.0, "actor/entropy": 1.25, "actor/pg_clipfrac": 0.0}
            f.write(json.dumps({"step": step, "data": data}, separators=(",", ":")) + "\n")


def test_committed_verl_fixture_is_what_verls_writer_writes(tmp_path: Path) -> None:
    write_verl_run(tmp_path, SCORES)
    for path in sorted((tmp_path / "rollouts").iterdir()):
        assert path.read_bytes() == (FIXTURE / "rollouts" / path.name).read_bytes(), path.name
    assert (tmp_path / "metrics.jsonl").read_bytes() == (FIXTURE / "metrics.jsonl").read_bytes()


@pytest.mark.parametrize("module", WRITERS)
def test_reader_needs_only_keys_that_verls_writers_dump(module: str, tmp_path: Path) -> None:
    """The keys of base_data in verl's writers (the v1 trainer's and the legacy one's) include every field our
    reader requires, and a run written by either writer reads back with the same groups."""
    function = next(node for node in ast.walk(ast.parse(verl_source(module)))
                    if isinstance(node, ast.FunctionDef) and node.name == "_write_generations")
    dumped = next(node.value for node in ast.walk(function) if isinstance(node, ast.Assign)
                  and getattr(node.targets[0], "id", "") == "base_data")
    assert set(ROLLOUT_FIELDS) <= {ast.literal_eval(key) for key in dumped.keys}
    write_verl_run(tmp_path, SCORES, module=module)
    run = read_verl_run(tmp_path)
    assert [(g.step, g.prompt, g.rewards) for g in run.groups] == \
        [(step, PROMPTS[q], tuple(map(float, r))) for step, groups in SCORES.items() for q, r in enumerate(groups)]


def test_verl_file_logger_writes_step_and_data() -> None:
    source = verl_source("verl/utils/tracking.py")
    logger = next(node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ClassDef)
                  and node.name == "FileLogger")
    log = next(node for node in logger.body if isinstance(node, ast.FunctionDef) and node.name == "log")
    dumped = next(node.value for node in ast.walk(log) if isinstance(node, ast.Assign) and isinstance(node.value,
                                                                                                      ast.Dict))
    assert {ast.literal_eval(key) for key in dumped.keys} == {"step", "data"}
    assert 'os.getenv("VERL_FILE_LOGGER_PATH"' in source


def test_verl_fixture_reads_into_steps_groups_and_times() -> None:
    run = read_verl_run(FIXTURE)
    assert run.engine == "verl" and run.group_size() == 4 and len(run.groups) == 16
    assert [row.step for row in run.steps] == [1, 2, 3, 4]
    assert [row.reward for row in run.steps] == [7 / 16, 5 / 16, 8 / 16, 7 / 16]
    assert [row.silent_share for row in run.steps] == list(SILENT.values())
    assert [row.rollouts for row in run.steps] == [16] * 4
    np.testing.assert_allclose(run.wall_clock(), np.cumsum(list(STEP_SECONDS.values())))
    assert run.prompt_pass_rates()[PROMPTS[0]] == (15, 16)


def test_silent_prediction_uses_only_the_other_groups_of_a_prompt() -> None:
    """Prompt 2 at step 1 (rewards 1,0,1,0) is predicted from its groups at steps 2 and 3 (its nearest, 4 of 8
    successes: min_samples 8): [C(4,4) + C(4,4)] / C(8,4) = 2/70."""
    comparison = compare_silent_shares(read_verl_run(FIXTURE))
    assert silent_estimate(4, 8, 4) == pytest.approx(2 / 70)
    assert comparison.group_predicted[2] == pytest.approx(2 / 70)
    assert comparison.group_silent[:4].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert comparison.measured.tolist() == list(SILENT.values())


def test_silent_estimate_is_unbiased_for_p_to_the_g() -> None:
    """E over c ~ Binomial(m, p) of the estimate equals p^G + (1-p)^G exactly."""
    from scipy.stats import binom

    m, G = 10, 3
    for p in (0.1, 0.5, 0.8):
        expected = sum(binom.pmf(c, m, p) * silent_estimate(c, m, G) for c in range(m + 1))
        assert expected == pytest.approx(p**G + (1 - p) ** G, abs=1e-12)


def test_tt8_on_the_fixture_is_inconclusive_with_so_few_groups() -> None:
    record, _ = silent_evidence(read_verl_run(FIXTURE), "fixture")
    assert record.claim_id == "TT-8" and record.verdict == Verdict.INCONCLUSIVE
    assert record.numbers["groups_compared"] == 16 and "groups would decide it" in record.reason


def summary(name: str, start: float, score: float, seconds: float) -> RunSummary:
    return RunSummary(name, "verl", 10, 10, 2, start, score, score - start, 5120.0, seconds)


def test_tt9_ratios_and_three_way_verdicts_from_seeds() -> None:
    """A keeps 85% of B's score and 71% of its improvement (both below TT's) at 11% of its time (below 21%)."""
    two = [summary(f"a{i}", 0.30, s, t) for i, (s, t) in enumerate([(0.50, 10.0), (0.52, 11.0), (0.54, 12.0)])]
    sixteen = [summary(f"b{i}", 0.30, s, t) for i, (s, t) in enumerate([(0.60, 100.0), (0.61, 101.0), (0.62, 102.0)])]
    record = compare_evidence(two, sixteen)
    decisions = record.numbers["decisions"]
    assert decisions[f"score ratio >= {TT9_SCORE_RATIO}"]["estimate"] == pytest.approx(0.52 / 0.61)
    assert decisions[f"improvement ratio >= {TT9_IMPROVEMENT_RATIO}"]["estimate"] == pytest.approx(0.22 / 0.31)
    verdicts = [d["verdict"] for d in decisions.values()]
    assert verdicts == ["fails", "fails", "holds"] and record.verdict == Verdict.PARTLY
    assert record.numbers["rollout_ratio"] == 1.0


def test_tt9_with_one_seed_per_arm_is_inconclusive() -> None:
    record = compare_evidence([summary("a", 0.3, 0.5, 10.0)], [summary("b", 0.3, 0.6, 80.0)])
    assert record.verdict == Verdict.INCONCLUSIVE


def test_ingest_command_compares_verl_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for name in ("a1", "a2", "b1"):
        write_verl_run(tmp_path / name, SCORES)
    out = tmp_path / "out"
    assert main(["ingest", "--compare", f"{tmp_path}/a*", str(tmp_path / "b1"), "--out", str(out)]) == 0
    records = json.loads((out / "evidence.json").read_text())["evidence"]
    assert [r["claim_id"] for r in records] == ["TT-8", "TT-8", "TT-8", "TT-9"]
    assert {"summary.md", "ingest.png", "runs.json"} <= {p.name for p in out.iterdir()}
    assert "TT-9 [llm]" in capsys.readouterr().out


@pytest.fixture(scope="module")
def trl_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The exported grpo2 arm run by TRL's GRPOTrainer for 3 steps (about 15 s, most of it importing TRL)."""
    if importlib.util.find_spec("trl") is None:
        if "CI" in os.environ:
            pytest.fail("CI is set: the TRL round trip must run; install the extra: pip install -e .[peers]")
        pytest.skip("trl is not installed (pip install -e .[peers])")
    from gpu_runs.engines.trl_tiny import CPU_OVERRIDES, run_tiny_trl

    folder = tmp_path_factory.mktemp("trl") / "grpo2"
    options = run_tiny_trl(folder, arm="grpo2", steps=3)
    return folder, {k: v for k, v in options.items() if k not in CPU_OVERRIDES}


def test_trl_round_trip_ingests_what_trl_logged(trl_run: tuple[Path, dict]) -> None:
    folder, options = trl_run
    from gpu_runs.engines.trl_export import trl_config

    assert options == {**trl_config("grpo2", output_dir=str(folder)), "max_steps": 3}  # the exported arm, unchanged
    logged = [e for e in json.loads((folder / "trainer_state.json").read_text())["log_history"] if "reward" in e]
    run = read_trl_run(folder)
    assert [row.step for row in run.steps] == [e["step"] for e in logged] == [1, 2, 3]
    assert run.group_size() == 2 and [row.rollouts for row in run.steps] == [512] * 3
    silent = run.group_silent_shares()
    for entry in logged:
        rewards = np.array([r for g in run.groups if g.step == entry["step"] for r in g.rewards])
        assert rewards.size == 512
        assert rewards.mean() == pytest.approx(entry["reward"], abs=1e-6)
        assert rewards.std(ddof=1) == pytest.approx(entry["reward_std"], abs=1e-6)
        assert silent[entry["step"]] == entry["frac_reward_zero_std"]  # binary rewards: exact
        assert 0 < entry["frac_reward_zero_std"] < 1  # some groups silent, some not: the check can tell


def test_trl_round_trip_through_the_command(trl_run: tuple[Path, dict], tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    folder, _ = trl_run
    assert main(["ingest", str(folder), "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "evidence.json").read_text())["evidence"][0]
    assert record["claim_id"] == "TT-8" and record["numbers"]["groups_compared"] == 768
    assert "TT-8 [llm]" in capsys.readouterr().out


def test_truncated_or_foreign_logs_name_the_missing_field(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    state = tmp_path / "trl" / "trainer_state.json"
    state.parent.mkdir()
    state.write_text('{"log_history": [{"step": 1, "reward": 0.5}, {"step": 2, "rew')
    with pytest.raises(ValueError, match=r"trainer_state.json is not valid JSON \(truncated\?\)"):
        read_trl_run(state.parent)
    state.write_text(json.dumps({"log_history": [{"step": 1, "loss": 0.1}]}))
    with pytest.raises(ValueError, match=r"log_history\[0\] \(step 1\) lacks 'reward'"):
        read_trl_run(state.parent)
    state.write_text(json.dumps({"global_step": 3}))
    with pytest.raises(ValueError, match="has no 'log_history' list"):
        read_trl_run(state.parent)

    import pyarrow as pa
    import pyarrow.parquet as pq

    state.write_text(json.dumps({"log_history": [{"step": 1, "reward": 0.5, "rewards/acc/mean": 0.5}]}))
    (state.parent / "completions").mkdir()
    pq.write_table(pa.table({"step": [1, 1], "prompt": ["p", "p"], "completion": ["a", "b"], "acc": [1.0, 0.0]}),
                   state.parent / "completions" / "completions_00001.parquet")
    with pytest.raises(ValueError, match="lacks column\\(s\\) 'advantage'"):
        read_trl_run(state.parent)

    verl = tmp_path / "verl"
    shutil.copytree(FIXTURE, verl)
    lines = (verl / "rollouts" / "2.jsonl").read_text().splitlines()
    (verl / "rollouts" / "2.jsonl").write_text("\n".join([*lines[:2], lines[2][:30]]))
    with pytest.raises(ValueError, match=r"2\.jsonl:3 is not valid JSON \(truncated write\?\)"):
        read_verl_run(verl)
    row = json.loads(lines[0])
    del row["score"]
    (verl / "rollouts" / "2.jsonl").write_text(json.dumps(row))
    with pytest.raises(ValueError, match=r"2\.jsonl:1 \(a rollout\) lacks 'score'"):
        read_verl_run(verl)

    assert main(["ingest", str(tmp_path)]) == 2
    assert "is neither a TRL output folder" in capsys.readouterr().err


def test_run_log_rejects_steps_out_of_order() -> None:
    with pytest.raises(ValueError, match="unique and increasing"):
        RunLog("trl", "x", (StepRow(2, 0.5), StepRow(1, 0.5)))
    assert Group(1, "p", (1.0, 1.0)).silent and not Group(1, "p", (1.0, 0.0)).silent


# --- fields of the wrong type or range: the file, the line or entry, the field and what is allowed ------------

NOT_NUMBERS = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, None, True, [1.0], {}, "1.0", 10**400]),
                        st.text(max_size=4))
"""Where a finite number belongs: NaN and the infinities (json reads and writes them), null, text, a list."""
FIELD_CASES = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                       suppress_health_check=[HealthCheck.function_scoped_fixture])
"""Derandomized (the same cases every run); the run folder is rewritten for each case."""


def out_of(low: float | None, high: float | None) -> st.SearchStrategy[object]:
    """Anything but a finite number in [low, high] (None: unbounded)."""
    outside = [NOT_NUMBERS]
    if low is not None:
        outside.append(st.floats(low - 1e6, low, exclude_max=True))
    if high is not None:
        outside.append(st.floats(high, high + 1e6, exclude_min=True))
    return st.one_of(outside)


NOT_A_STEP = st.one_of(st.sampled_from([1.5, 2.0, "2", None, True, [2]]), st.integers(-10**30, -1))
VERL_BAD = {"score": NOT_NUMBERS, "step": st.one_of(NOT_A_STEP, st.integers(3, 10**30)),
            "input": st.one_of(st.none(), st.integers(), st.floats(), st.lists(st.text(max_size=2), max_size=2))}


def assert_names(exc: pytest.ExceptionInfo[ValueError], where: str, field: str) -> None:
    message = str(exc.value)
    assert where in message and re.search(rf"(?<![\w/]){re.escape(field)}=", message) and " must " in message, (
        f"expected {where!r}, {field}= and what is allowed in: {message}")


@FIELD_CASES
@given(line=st.integers(1, 16), field=st.sampled_from(sorted(VERL_BAD)), data=st.data())
def test_a_bad_verl_rollout_field_names_file_line_field_and_range(tmp_path: Path, line: int, field: str,
                                                                  data: st.DataObject) -> None:
    """Any one field of any one line of 2.jsonl made wrong (a NaN / infinite / text / null score, a step that is
    no integer or not the file's, a prompt that is no text): ValueError naming 2.jsonl:LINE and the field."""
    run = tmp_path / "verl"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(FIXTURE, run)
    lines = (FIXTURE / "rollouts" / "2.jsonl").read_text().splitlines()
    row = json.loads(lines[line - 1])
    row[field] = data.draw(VERL_BAD[field], label=field)
    lines[line - 1] = json.dumps(row)
    (run / "rollouts" / "2.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as exc:
        read_verl_run(run)
    assert_names(exc, f"2.jsonl:{line}", field)


@FIELD_CASES
@given(step=st.integers(1, 4), key=st.sampled_from(sorted(METRIC_RANGES)), data=st.data())
def test_a_bad_verl_metric_names_file_line_field_and_range(tmp_path: Path, step: int, key: str,
                                                           data: st.DataObject) -> None:
    """A metric the reader uses (seconds, length, entropy >= 0; clipped shares in [0, 1]) made NaN, text or out of
    range on one line of metrics.jsonl: ValueError naming metrics.jsonl:LINE and data.KEY."""
    run = tmp_path / "verl"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(FIXTURE, run)
    lines = (FIXTURE / "metrics.jsonl").read_text().splitlines()
    row = json.loads(lines[step - 1])
    row["data"][key] = data.draw(out_of(*METRIC_RANGES[key]).filter(lambda v: v is not None), label=key)
    lines[step - 1] = json.dumps(row)
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as exc:
        read_verl_run(run)
    assert_names(exc, f"metrics.jsonl:{step}", f"data.{key}")


TRL_LOG = [{"step": s, "reward": r, "reward_std": 0.5, "frac_reward_zero_std": 0.25, "completions/mean_length": 9.0,
            "entropy": 0.75, "step_time": 3.0, f"{CLIP_PREFIX}low_mean": 0.0} for s, r in ((1, 0.25), (2, 0.5))]
TRL_BAD = {"step": NOT_A_STEP, "reward": NOT_NUMBERS, f"{CLIP_PREFIX}low_mean": out_of(0.0, 1.0).filter(
    lambda v: v is not None), **{key: out_of(low, high).filter(lambda v: v is not None)  # null: not logged
                                 for key, (_, low, high) in OPTIONAL_STEP_KEYS.items()}}


@FIELD_CASES
@given(index=st.integers(0, 1), key=st.sampled_from(sorted(TRL_BAD)), data=st.data())
def test_a_bad_trl_log_field_names_file_entry_field_and_range(tmp_path: Path, index: int, key: str,
                                                              data: st.DataObject) -> None:
    """Any one field of a log_history entry made wrong (a text / null / NaN reward, a step that is no integer, a
    metric out of its range): ValueError naming trainer_state.json, log_history[i] and the field."""
    log = [dict(entry) for entry in TRL_LOG]
    log[index][key] = data.draw(TRL_BAD[key], label=key)
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": [*log, {"train_runtime": 6.0}]}))
    with pytest.raises(ValueError) as exc:
        read_trl_run(tmp_path)
    assert_names(exc, f"trainer_state.json: log_history[{index}]", key)


def test_the_trl_fixture_log_reads_as_logged(tmp_path: Path) -> None:
    """The log the field cases above break, unbroken, reads into its steps (so each case fails on its field)."""
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": TRL_LOG}))
    run = read_trl_run(tmp_path)
    assert [(row.step, row.reward, row.silent_share, row.seconds) for row in run.steps] == \
        [(e["step"], e["reward"], e["frac_reward_zero_std"], e["step_time"]) for e in TRL_LOG]


@pytest.mark.parametrize("value", ["x", math.inf])
def test_a_bad_reward_in_the_completions_parquet_names_file_row_and_column(tmp_path: Path, value: object) -> None:
    """Row 0 is null (a reward function that could not score: 0, as TRL's NaN), row 1 text or infinite."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": [
        {"step": 1, "reward": 0.5, "rewards/acc/mean": 0.5}]}))
    (tmp_path / "completions").mkdir()
    pq.write_table(pa.table({"step": [1, 1], "prompt": ["p", "p"], "completion": ["a", "b"],
                             "acc": [None, value], "advantage": [0.5, -0.5]}),
                   tmp_path / "completions" / "completions_00001.parquet")
    with pytest.raises(ValueError) as exc:
        read_trl_run(tmp_path)
    assert_names(exc, "completions_00001.parquet: row 1", "acc")


def test_ingest_of_a_nan_score_exits_2_with_one_line_naming_file_line_and_field(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """verl's json.dumps writes a NaN score as NaN: the command says where, in one line, not a traceback."""
    shutil.copytree(FIXTURE, tmp_path / "verl")
    lines = (FIXTURE / "rollouts" / "3.jsonl").read_text().splitlines()
    lines[4] = lines[4].replace('"score": 0.0', '"score": NaN').replace('"score": 1.0', '"score": NaN')
    (tmp_path / "verl" / "rollouts" / "3.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["ingest", str(tmp_path / "verl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "3.jsonl:5: score=nan must be a finite number" in err
