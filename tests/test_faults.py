"""Faults (issue 18, item 5): a ``kill -9`` during the warm start or during an (arm, seed) run, then
the same command again, gives the results of an uninterrupted run; a truncated or corrupted
warm-start cache entry or checkpoint is detected by its sha256, logged, removed and rebuilt, never
used; a second run into a results folder is refused naming the holder; every result file under
the project's packages is written atomically."""

from __future__ import annotations

import ast
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import gpu_runs.tt9.metrics as metrics
from evidence.io import LOCK_NAME, digest_path, digest_problem, folder_lock, write_digest
from gpu_runs.config import GPTConfig, TrainConfig, WarmStartConfig, task_config
from gpu_runs.trainer import latest_checkpoint, save_checkpoint
from gpu_runs.tt9.experiment import ExperimentConfig, RunSpec, make_arm, run_one
from gpu_runs.tt9.start import start_policy
from gpu_runs.warmstart import load_or_train

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "faults_driver.py"
TASK = task_config("addition", (2,), train_size=16, heldout_size=32)
WARM = WarmStartConfig(model=GPTConfig(block_size=TASK.max_prompt_len + TASK.max_answer_len + 2, n_layer=1, n_head=2,
                                       n_embd=16),
                       task=TASK, steps=20, batch_size=32, warmup_steps=2, lr=1e-2, label_noise=0.3, probe_prompts=8,
                       probe_samples=4)
BASE = TrainConfig(warm_start=WARM, group_size=16, prompts_per_step=2, prompts_per_minibatch=2, lr=1e-3,
                   max_new_tokens=TASK.max_answer_len + 1, eval_prompts=16, threads=1, device="cpu")
TINY = ExperimentConfig(base=BASE, epochs=1, max_epochs=1, seeds=1, lr_grid=(0.5, 1.0), max_grid_extensions=0,
                        eval_points=2, final_prompts=32, probe_prompts=8, arms=("grpo16",))
TIMING_KEYS = ("seconds", "train_seconds", "measure_seconds", "wall_seconds")


# --- kill -9 and resume ----------------------------------------------------------------------------------

def start_driver(out: Path, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(DRIVER), str(out), str(cache)], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """SIGKILL ``proc`` as soon as ``ready()``; fail if it ends first."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"the driver ended before {what}: {proc.stderr.read().decode()}"
        assert time.monotonic() < deadline, f"no sign of {what} after {timeout} s"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()


def existed_for(path: Path, seconds: float) -> Callable[[], bool]:
    """A condition: ``path`` has been seen for at least ``seconds``."""
    first: list[float] = []

    def ready() -> bool:
        if not first and path.exists():
            first.append(time.monotonic())
        return bool(first) and time.monotonic() - first[0] >= seconds

    return ready


def without_timings(value):
    """``value`` with every timing (seconds measured, which differ between two runs) left out."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def results(out: Path) -> dict[str, dict]:
    """Every result.json and start.json under ``out`` by relative path, timings left out."""
    files = sorted([*out.glob("runs/**/result.json"), out / "start.json"])
    return {str(p.relative_to(out)): without_timings(json.loads(p.read_text())) for p in files}


@pytest.mark.slow
def test_kill_9_in_warm_start_and_in_a_run_then_rerun_gives_the_uninterrupted_results(tmp_path):
    clean = start_driver(tmp_path / "clean", tmp_path / "clean-cache")
    out, cache = tmp_path / "faulted", tmp_path / "cache"

    warm = start_driver(out, cache)  # (a) killed a second into the warm start (it takes several)
    kill_when(warm, existed_for(out / "experiment_config.json", 1.0), "the warm start")
    assert not list(cache.glob("*/warmstart.json")), "the kill came after the warm start"

    in_run = start_driver(out, cache)  # (b) killed halfway through the evaluation run (16 steps, checkpoint at 8)
    run_dir = out / "runs" / "grpo16" / "seed0"
    kill_when(in_run, (run_dir / "checkpoints" / "step_000008.pt").exists, "the evaluation run's first checkpoint")
    assert not (run_dir / "result.json").exists() and not (run_dir / "checkpoints" / "step_000016.pt").exists()

    again = start_driver(out, cache)
    finish(again)
    finish(clean)
    assert list(cache.glob("*/warmstart.json")) and digest_problem(next(cache.glob("*/model.pt"))) is None
    assert not list(out.glob("runs/**/checkpoints/step_*.pt"))
    faulted, reference = results(out), results(tmp_path / "clean")
    assert len(reference) == 4  # start.json, two tuning runs, one evaluation run
    assert faulted == reference


# --- corruption is detected, never used ------------------------------------------------------------------

def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def flip_byte(path: Path) -> None:
    """Flip one byte in the middle of the tensor data (the file may still load: only the hash tells)."""
    data = bytearray(path.read_bytes())
    data[len(data) * 3 // 4] ^= 0xFF
    path.write_bytes(bytes(data))


def drop_digest(path: Path) -> None:
    digest_path(path).unlink()


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory) -> Path:
    """The tiny warm start trained once, on one torch thread (as every run of the experiment)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cache = tmp_path_factory.mktemp("warm")
    load_or_train(WARM, cache, torch.device("cpu"), progress=False)
    yield cache
    torch.set_num_threads(threads)


@pytest.mark.parametrize("damage", [truncate, flip_byte, drop_digest])
def test_damaged_warm_start_cache_entry_is_retrained_not_loaded(tmp_path, warm_cache, caplog, damage):
    shutil.copytree(warm_cache, tmp_path, dirs_exist_ok=True)
    model, record = load_or_train(WARM, warm_cache, torch.device("cpu"), progress=False)
    weights = tmp_path / WARM.key() / "model.pt"
    damage(weights)
    with caplog.at_level(logging.WARNING, logger="gpu_runs.warmstart"):
        again, rebuilt = load_or_train(WARM, tmp_path, torch.device("cpu"), progress=False)
    assert record["cache_hit"] and not rebuilt["cache_hit"]
    assert "unusable" in caplog.text and str(weights.parent) in caplog.text
    assert digest_problem(weights) is None
    for name, tensor in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor), name
    records = [json.loads((folder / WARM.key() / "warmstart.json").read_text()) for folder in (warm_cache, tmp_path)]
    assert without_timings(records[0]) == without_timings(records[1])


def test_latest_checkpoint_falls_back_to_the_newest_that_verifies(tmp_path, caplog):
    save_checkpoint(tmp_path, 2, {"step": 2})
    good = tmp_path / "checkpoints" / "step_000002.pt"
    no_digest = tmp_path / "checkpoints" / "step_000004.pt"  # killed between the file and its sidecar
    torch.save({"step": 4}, no_digest)
    flipped = tmp_path / "checkpoints" / "step_000006.pt"
    torch.save({"step": 6}, flipped)
    write_digest(flipped)
    flip_byte(flipped)
    with caplog.at_level(logging.WARNING, logger="gpu_runs.trainer"):
        assert latest_checkpoint(tmp_path) == good
    for path in (no_digest, flipped):
        assert not path.exists() and not digest_path(path).exists() and str(path) in caplog.text
    drop_digest(good)
    assert latest_checkpoint(tmp_path) is None and not good.exists()


@pytest.mark.parametrize("damage", [truncate, flip_byte])
def test_damaged_checkpoint_restarts_the_run_with_the_uninterrupted_result(tmp_path, warm_cache, monkeypatch, caplog,
                                                                          damage):
    arm = make_arm(TINY, "grpo16", 1.0)
    start = start_policy("gpt")
    clean = run_one(TINY, RunSpec(arm, 0, tmp_path / "clean", evaluate=True), warm_cache, start, progress=False)
    spec = RunSpec(arm, 0, tmp_path / "damaged", evaluate=True)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(metrics, "evaluate_policy", killed)
    with pytest.raises(KeyboardInterrupt):
        run_one(TINY, spec, warm_cache, start, progress=False)
    monkeypatch.undo()
    (checkpoint,) = (spec.run_dir / "checkpoints").glob("step_*.pt")
    damage(checkpoint)
    with caplog.at_level(logging.WARNING, logger="gpu_runs.trainer"):
        resumed = run_one(TINY, spec, warm_cache, start, progress=False)
    assert str(checkpoint) in caplog.text
    assert without_timings(resumed) == without_timings(clean)


# --- one writer per results folder -----------------------------------------------------------------------

def test_second_experiment_into_a_locked_folder_exits_2_naming_folder_and_holder(tmp_path):
    out = tmp_path / "out"
    with folder_lock(out):
        proc = subprocess.run([sys.executable, "-m", "grpo_verify.cli", "llm", "experiment", "--budget", "smoke",
                               "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--quiet"],
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True, text=True,
                              timeout=60)  # a run that ignored the lock would go on for minutes
    assert proc.returncode == 2, proc.stderr
    assert str(out) in proc.stderr and f"pid {os.getpid()}" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing else written


def test_lock_of_a_dead_process_is_taken_over_and_released_on_exit(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / LOCK_NAME).write_text(dead.stdout)
    with folder_lock(tmp_path) as lock:
        assert lock.read_text() == f"{os.getpid()}\n"
        with folder_lock(tmp_path):  # re-entrant in the holding process
            pass
    held_elsewhere = subprocess.run(
        [sys.executable, "-c", f"from evidence.io import folder_lock\nwith folder_lock({str(tmp_path)!r}): pass"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert held_elsewhere.returncode == 0, held_elsewhere.stderr


def test_lock_on_a_file_is_a_value_error_naming_it(tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(ValueError, match="is a file"), folder_lock(path):
        pass


# --- atomic writes everywhere ----------------------------------------------------------------------------

PACKAGES = ("evidence", "gpu_runs", "simulations", "grpo_verify", "proofs", "theory")
WRITERS = {"write_text", "write_bytes", "savefig", "to_parquet", "to_csv", "save", "savez", "savetxt", "dump"}
IN_PLACE = {("evidence/io.py", "atomic_write_text"), ("gpu_runs/trainer.py", "append_log")}
"""Writes allowed outside atomic_path: the helper itself (into its temp file) and the JSON-lines step
log, which appends (a half line left by a kill is dropped by trainer.read_log)."""


def _opens_for_writing(call: ast.Call) -> bool:
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and any(c in mode.value for c in "wax+")


def _is_write(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in WRITERS:
        module = func.value.id if isinstance(func.value, ast.Name) else ""
        return func.attr != "dump" or module in ("json", "pickle")
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name == "open" and _opens_for_writing(call)


class WriteFinder(ast.NodeVisitor):
    """Result-file writes that are neither inside ``with atomic_path(...)`` nor allowed in place."""

    def __init__(self, relative: str):
        self.relative, self.atomic, self.function, self.found = relative, 0, "", []

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    def visit_With(self, node: ast.With) -> None:
        atomic = any(isinstance(i.context_expr, ast.Call) and getattr(i.context_expr.func, "id", "") == "atomic_path"
                     for i in node.items)
        self.atomic += atomic
        self.generic_visit(node)
        self.atomic -= atomic

    def visit_Call(self, node: ast.Call) -> None:
        if _is_write(node) and not self.atomic and (self.relative, self.function) not in IN_PLACE:
            self.found.append(f"{self.relative}:{node.lineno} in {self.function or 'module'}")
        self.generic_visit(node)


def unprotected_writes(root: Path) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            finder = WriteFinder(str(path.relative_to(root)))
            finder.visit(ast.parse(path.read_text(), str(path)))
            found += finder.found
    return found


def test_every_result_file_is_written_through_atomic_path():
    assert unprotected_writes(ROOT) == []


def test_the_write_scan_finds_a_plain_savefig_and_open_for_writing(tmp_path):
    (tmp_path / "gpu_runs").mkdir()
    (tmp_path / "gpu_runs" / "bad.py").write_text(
        "def plot(fig, path):\n    fig.savefig(path)\n"
        "def save(path):\n    with open(path, 'w') as f:\n        f.write('x')\n"
        "def good(fig, path):\n    with atomic_path(path) as tmp:\n        fig.savefig(tmp)\n")
    assert unprotected_writes(tmp_path) == ["gpu_runs/bad.py:2 in plot", "gpu_runs/bad.py:4 in save"]
