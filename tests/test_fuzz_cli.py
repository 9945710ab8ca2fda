"""Bad input, fuzzed, at the command line (issue 18, item 6).

hypothesis drives ``grpo_verify.cli.main(argv)`` in-process, stdout and stderr captured, in a scratch
folder of fixtures (a file, a folder, pass-rate files good and malformed, TRL and verl runs good, truncated
and corrupted). The argument lists are built from each subcommand's own options (:func:`option_specs`
checks them against ``build_parser()``): valid values, bad numbers (negative, 0, NaN, inf, 1e309, text),
unknown names (claims, kinds, presets, arms, estimators, benchmarks), missing files and folders, files
where folders belong, malformed JSON / JSONL / text inputs. Every case ends either

- in success or in the command starting its work, for valid input: the work itself (checks, training,
  benchmarks, the advice, the ingest report) is replaced by a stand-in that raises :class:`Reached`, so no
  case runs an experiment, a download or a report; or
- in exit status 2 with an error line on stderr that names the argument (``--budget-rollouts``,
  ``CLAIM_ID``) and says what is allowed; a ValueError of a command is that one line alone.

Never a traceback, never an exception out of ``main``, never a file left behind by a rejected command.

Examples per case: QUICK in the default run (derandomized, seconds), FULL under ``-m fuzz``:
``python -m pytest -q -m fuzz tests/test_fuzz_cli.py tests/test_fuzz_api.py`` runs >= 10,000 cases in all.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shutil
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evidence.record import BUDGETS, METHODS
from gpu_runs.config import DEVICES, PRESETS
from gpu_runs.engines.arms import ARMS
from gpu_runs.tasks import REWARDS, TASKS
from gpu_runs.tt9.experiment import ARM_KEYS
from grpo_verify import cli
from grpo_verify.claims import CLAIMS
from grpo_verify.commands import advise, bench, common, export
from theory.advantages import STD_MODES
from theory.estimators import ALL_ESTIMATORS

pytestmark = pytest.mark.fuzz

QUICK, FULL = 12, 250
"""Examples per test in the default run and under ``-m fuzz`` (the type probes of every option: a tenth)."""
RUN = {"cases": 0, "full": False}
FIXTURES = Path(__file__).parent / "fixtures"
PARSER = cli.build_parser()
ERROR_LINE = re.compile(r"^grpo-verify(?: [\w-]+)*: error: (?P<message>.+)$", re.MULTILINE)
ALLOWED = re.compile(r"must|choose from|choose one of|expected|required|not allowed|allowed|needs|(?<!un)known|"
                     r"unrecognized arguments")
"""An error that says what is allowed uses one of these words (argparse's own included: an unknown option is
'unrecognized')."""
LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")


class Reached(BaseException):
    """Raised by the stand-ins of the expensive calls: the command accepted its input and started work."""


def _reached(*args: Any, **kwargs: Any) -> None:
    raise Reached


STAND_INS = {
    "grpo_verify.commands.report.write_report": _reached,
    "grpo_verify.commands.prove.run_and_print": _reached,
    "grpo_verify.commands.simulate.run_and_print": _reached,
    "gpu_runs.trainer.train": _reached,
    "grpo_verify.commands.llm_experiment.run_experiment": _reached,
    "gpu_runs.tt9.ladder.write_ladder": _reached,
    "grpo_verify.commands.bench.importlib": types.SimpleNamespace(
        import_module=lambda name: types.SimpleNamespace(run=_reached)),
    "gpu_runs.engines.evidence.write_ingest": _reached,
    "simulations.advise.advise": _reached,
    "gpu_runs.pretrained.pass_rates.probe_pass_rates": _reached,
    "grpo_verify.readme_tables.rendered_blocks": _reached,
}
"""Where each command starts its work (the checks, training, a benchmark, the ingest report, the advice)."""
COMMANDS_WITH_STAND_INS = ("claims", "report", "prove", "simulate", "llm", "bench", "export", "ingest", "advise")
"""Commands whose work the stand-ins replace: only these get random argument lists that may be valid."""


# --- the scratch folder ----------------------------------------------------------------------------------

TRL_STATE = {"log_history": [{"step": s, "reward": r, "frac_reward_zero_std": 0.25, "step_time": 3.0}
                             for s, r in ((1, 0.25), (2, 0.5), (3, 0.625))] + [{"train_runtime": 9.0}]}
PASS_RATE_FILES = {
    "rates.json": json.dumps({"pass_rates": [0.1, 0.5, 0.9, 0.3, 0.0, 1.0]}),
    "rates.txt": "0.1, 0.5\n0.9 0.3  # a comment\n0.7\n",
    "rates100.json": json.dumps([0.5] * 100),
}
BAD_PASS_RATE_FILES = {
    "bad_word.txt": "0.5 0.25 half", "bad_range.json": "[0.5, 1.5]", "bad_nan.json": "[0.5, NaN]",
    "bad_ragged.json": "[[0.1], [0.2, 0.3]]", "bad_scalar.json": "0.5", "bad_key.json": '{"rates": [0.5]}',
    "bad_empty.txt": "", "bad_truncated.json": '{"pass_rates": [0.1, 0.', "bad_strings.json": '["0.5", "0.2"]',
    "bad_null.json": '{"pass_rates": null}', "bad_bool.json": "[true, false]", "bad_huge.json": "[1" + "0" * 400 + "]",
    "bad_deep.json": "[" * 100_000 + "]" * 100_000, "bad_inf.txt": "0.5 inf", "bad_negative.txt": "-0.5",
}
BAD_BINARY = {"bad_binary.bin": b"\xff\xfe\x00\x81 0.5"}
BAD_RUNS = {  # folder -> {file: content}
    "trl_truncated": {"trainer_state.json": json.dumps(TRL_STATE)[:40]},
    "trl_empty": {"trainer_state.json": ""},
    "trl_list": {"trainer_state.json": "[]"},
    "trl_no_reward": {"trainer_state.json": json.dumps({"log_history": [{"step": 1, "loss": 0.5}]})},
    "trl_text_step": {"trainer_state.json": json.dumps({"log_history": [{"step": "one", "reward": 0.5}]})},
    "trl_null_reward": {"trainer_state.json": json.dumps({"log_history": [{"step": 1, "reward": None}]})},
    "trl_list_step": {"trainer_state.json": json.dumps({"log_history": [{"step": [1], "reward": 0.5}]})},
    "trl_list_time": {"trainer_state.json": json.dumps(
        {"log_history": [{"step": 1, "reward": 0.5, "step_time": [1]}]})},
    "verl_badline": {"1.jsonl": '{"input": "a", "output": "b", "score": 1.0, "step": 1}\n{"input": '},
    "verl_text_score": {"1.jsonl": '{"input": "a", "output": "b", "score": "x", "step": 1}\n'},
    "verl_nan_score": {"1.jsonl": '{"input": "a", "output": "b", "score": NaN, "step": 1}\n'},
    "trl_text_reward": {"trainer_state.json": json.dumps({"log_history": [{"step": 1, "reward": "x"}]})},
    "verl_array": {"1.jsonl": "[1, 2]\n"},
    "empty_dir": {},
}
BAD_RUN_BINARY = {"trl_binary": {"trainer_state.json": b"\xff\xfe{"}, "verl_binary": {"2.jsonl": b"\x80\x81"}}
EXPERIMENTS = ("exp_tiny", "exp_small")
"""Finished ``llm experiment`` folders (an experiment.json each), the rungs ``--ladder`` takes."""


def make_world(root: Path) -> Path:
    """The scratch folder every command runs in."""
    (root / "afile").write_text("not a folder\n")
    (root / "dir").mkdir()
    for name, text in {**PASS_RATE_FILES, **BAD_PASS_RATE_FILES}.items():
        (root / name).write_text(text)
    for name, data in BAD_BINARY.items():
        (root / name).write_bytes(data)
    (root / "trl_ok").mkdir()
    (root / "trl_ok" / "trainer_state.json").write_text(json.dumps(TRL_STATE))
    shutil.copytree(FIXTURES / "verl_run", root / "verl_ok")
    for name in EXPERIMENTS:
        (root / name).mkdir()
        (root / name / "experiment.json").write_text("{}")
    for folder, files in {**BAD_RUNS, **BAD_RUN_BINARY}.items():
        (root / folder).mkdir()
        for name, content in files.items():
            target = root / folder / name
            target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@dataclass
class Outcome:
    code: int | None  # main's return value or argparse's exit status; None when the work was reached
    out: str
    err: str

    @property
    def reached(self) -> bool:
        return self.code is None


@dataclass
class World:
    root: Path
    pristine: Path  # a copy of the fixtures, to restore any a valid command replaced (export --out rates.json)
    before: dict[str, tuple[int, int]] = field(default_factory=dict)

    def invoke(self, argv: list[str]) -> Outcome:
        """``main(argv)`` in the scratch folder; any exception but SystemExit and Reached escapes (a bug)."""
        self.before = snapshot(self.root)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code: int | None = cli.main(argv)
            except SystemExit as exc:  # argparse: 2 for a usage error, 0 for --help
                code = exc.code if isinstance(exc.code, int) else 2
            except Reached:
                code = None
        RUN["cases"] += 1
        return Outcome(code, out.getvalue(), err.getvalue())

    def changes(self) -> set[str]:
        """Paths created or modified by the last invocation."""
        after = snapshot(self.root)
        return {p for p, stamp in after.items() if self.before.get(p) != stamp}

    def undo(self) -> None:
        """Remove what the last (successful) invocation wrote and restore what it replaced, so that cases
        stay independent."""
        for name in sorted(self.changes(), key=len, reverse=True):
            target = self.root / name
            if name not in self.before:
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            elif target.is_file():
                shutil.copy2(self.pristine / name, target)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The scratch folder as the current folder, every stand-in in place, the parser built once."""
    root = make_world(tmp_path_factory.mktemp("fuzz-cli"))
    pristine = tmp_path_factory.mktemp("fuzz-cli-pristine") / "world"
    shutil.copytree(root, pristine)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setattr(cli, "build_parser", lambda: PARSER)
        for target, stand_in in STAND_INS.items():
            patch.setattr(target, stand_in)
        yield World(root, pristine)


@pytest.fixture(scope="module")
def examples(request: pytest.FixtureRequest) -> Iterator[int]:
    """FULL examples per test when the run selects the fuzz marker (``-m fuzz``), else QUICK."""
    RUN["full"] = "fuzz" in (request.config.getoption("markexpr") or "")
    yield FULL if RUN["full"] else QUICK
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\ntest_fuzz_cli: {RUN['cases']} fuzz cases")


def run_cases(examples: int, strategy: st.SearchStrategy[Any], check: Callable[[Any], None]) -> None:
    """``check`` on ``examples`` values drawn from ``strategy``; hypothesis shrinks and reports a failure.
    The default run is derandomized (the same cases every time); ``-m fuzz`` explores."""

    @settings(max_examples=examples, deadline=None, derandomize=not RUN["full"], database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    @given(strategy)
    def cases(value: Any) -> None:
        check(value)

    cases()


# --- what a good and a bad ending look like -------------------------------------------------------------

def error_message(outcome: Outcome, argv: list[str]) -> str:
    """The error of a rejected command: exit 2, no traceback, no output on stdout for argparse's errors,
    the last stderr line ``grpo-verify ...: error: MESSAGE`` and, for a command's own ValueError (main
    returned 2), that line alone."""
    assert outcome.code == 2, f"{argv}: expected exit status 2, got {outcome.code}; stderr: {outcome.err}"
    assert "Traceback" not in outcome.err, f"{argv}: a traceback on stderr:\n{outcome.err}"
    match = ERROR_LINE.search(outcome.err)
    assert match, f"{argv}: no 'grpo-verify ...: error: ...' line on stderr: {outcome.err!r}"
    if outcome.err.startswith("usage:"):  # argparse: usage, then the error (raw arguments may hold newlines)
        return outcome.err[match.start("message"):].strip()
    assert outcome.err.count("\n") == 1 and match.start() == 0, (  # main's one line for a ValueError
        f"{argv}: a command's error must be one line, got:\n{outcome.err}")
    return match["message"]


def assert_rejected(world: World, outcome: Outcome, argv: list[str], names: set[str]) -> None:
    """Exit 2, an error naming one of ``names`` and saying what is allowed, nothing written."""
    message = error_message(outcome, argv)
    assert any(_names(message, name) for name in names), (
        f"{argv}: the error does not name {' or '.join(sorted(names))}: {message}")
    assert ALLOWED.search(message), f"{argv}: the error does not say what is allowed: {message}"
    assert not world.changes(), f"{argv}: rejected, yet wrote {sorted(world.changes())}"


def _names(message: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message) is not None


def assert_accepted_or_rejected_cleanly(world: World, outcome: Outcome, argv: list[str], given: set[str]) -> None:
    """Valid values one by one: success, the work reached, or a clean error naming one of the options given
    (a constraint between them, e.g. rollouts not a multiple of the group size)."""
    if outcome.code == 2:
        assert_rejected(world, outcome, argv, given)
        return
    assert outcome.code in (0, None), f"{argv}: exit {outcome.code}; stderr: {outcome.err}"
    assert "Traceback" not in outcome.err
    world.undo()


# --- values ----------------------------------------------------------------------------------------------

def ints(low: int, high: int) -> st.SearchStrategy[list[str]]:
    return st.integers(low, high).map(lambda n: [str(n)])


NOT_INTEGERS = st.sampled_from(["1.5", "1e3", "nan", "inf", "-inf", "1e309", "abc", "", "0x10", "2,4", " ", "1 2",
                                "--", "١٢x"])
NOT_NUMBERS = st.sampled_from(["nan", "NaN", "inf", "-inf", "+inf", "Infinity", "1e309", "-1e309", "abc", "", "1,5",
                               "0x1p-2x", "--"])


def bad_ints(low: int, high: int | None = None) -> st.SearchStrategy[list[str]]:
    """Integers outside [low, high] (huge ones too) and text that is no integer."""
    options = [st.integers(low - 10**6, low - 1).map(str), NOT_INTEGERS, st.integers(-10**40, -10**20).map(str)]
    if high is not None:
        options.append(st.integers(high + 1, high + 10**30).map(str))
    return st.one_of(options).map(lambda v: [v])


def reals(low: float, high: float) -> st.SearchStrategy[list[str]]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False).map(lambda x: [repr(x)])


def bad_reals(below: float | None = None, above: float | None = None) -> st.SearchStrategy[list[str]]:
    """NaN, infinities, 1e309, text, and numbers below ``below`` / above ``above``."""
    options = [NOT_NUMBERS]
    if below is not None:
        options.append(st.floats(below - 1e6, below, allow_nan=False).map(repr))
    if above is not None:
        options.append(st.floats(above, above + 1e6, allow_nan=False).map(repr))
    return st.one_of(options).map(lambda v: [v])


def names(allowed: tuple[str, ...] | list[str], n: tuple[int, int] = (1, 1)) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(list(allowed)), min_size=n[0], max_size=n[1])


def unknown(allowed: tuple[str, ...] | list[str], casefold: bool = False) -> st.SearchStrategy[str]:
    """A name that is not one of ``allowed`` (near misses included: other case, a typo); ``casefold``: in
    no case (claim ids are case-insensitive)."""
    near = [a.upper() for a in allowed] + [a + "x" for a in allowed] + ["", " "]
    made = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=10).filter(
        lambda s: not s.startswith("-"))
    known = {a.upper() for a in allowed} if casefold else set(allowed)
    return st.one_of(st.sampled_from(near), made).filter(lambda s: (s.upper() if casefold else s) not in known)


def bad_names(allowed: tuple[str, ...] | list[str], n: tuple[int, int] = (1, 1),
              casefold: bool = False) -> st.SearchStrategy[list[str]]:
    """``n`` names of which one is unknown."""
    return st.tuples(names(allowed, (n[0] - 1 if n[0] else 0, n[1] - 1)), unknown(allowed, casefold)).flatmap(
        lambda pair: st.permutations([*pair[0], pair[1]]))


CLAIM_IDS = [c.id for c in CLAIMS]
WITH_PROOF = [c.id for c in CLAIMS if "proof" in c.kinds]
WITH_SIMULATION = [c.id for c in CLAIMS if "simulation" in c.kinds]
FRESH = st.sampled_from(["out", "new/sub", "dir", "dir/new", "./o2"]).map(lambda p: [p])
"""Output folders that may be created (or exist as folders)."""
NOT_A_FOLDER = st.sampled_from(["afile", "afile/sub", "", "rates.json"]).map(lambda p: [p])
FRESH_FILE = st.sampled_from(["x.json", "dir/x.json", "new/x.yaml"]).map(lambda p: [p])
NOT_A_FILE_TO_WRITE = st.sampled_from(["dir", ".", "", "afile/x.json", "dir/"]).map(lambda p: [p])
MISSING = st.sampled_from(["missing", "missing/deeper", "", "x" * 300, "afile/sub"])
SEED = ints(0, common.SEED_MAX)
BAD_SEED = bad_ints(0, common.SEED_MAX)


def ids_in_case(ids: list[str]) -> st.SearchStrategy[list[str]]:
    """Claim ids as typed: any case."""
    return names(ids, (1, 3)).flatmap(lambda chosen: st.tuples(*[st.sampled_from([c, c.lower()]) for c in chosen])
                                      ).map(list)


# --- option specs: valid and bad values of every option, per command --------------------------------------

@dataclass(frozen=True)
class Opt:
    """An option (``flag``) or a positional (``flag`` = its name in errors, ``positional=True``) with valid
    and bad value tokens; ``names`` the words an error about it may use (default: the flag)."""

    flag: str
    valid: st.SearchStrategy[list[str]] | None = None  # None: a switch without value
    bad: st.SearchStrategy[list[str]] | None = None
    required: bool = False
    positional: bool = False
    names: tuple[str, ...] = ()

    @property
    def called(self) -> set[str]:
        return {self.flag, *self.names}


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    opts: tuple[Opt, ...]
    exclusive: tuple[tuple[str, str], ...] = ()  # options that must not be given together
    one_of: tuple[str, ...] = ()  # at least one of these is required
    cross: tuple[str, ...] = ()  # options in constraints between valid values, checked in the command's order


RUN_OPTS = (Opt("--budget", names(BUDGETS), bad_names(BUDGETS)),
            Opt("--out", FRESH, NOT_A_FOLDER), Opt("--seed", SEED, BAD_SEED))
SPECS = [
    Command(("claims",), (Opt("--json"), Opt("--markdown"), Opt("--readme"), Opt("--verbose"),
                          Opt("-v", names=("--verbose",))),
            exclusive=(("--json", "--markdown"), ("--json", "--readme"), ("--markdown", "--readme"))),
    Command(("report",), (*RUN_OPTS, Opt("--only", ids_in_case(CLAIM_IDS), bad_names(CLAIM_IDS, (1, 3), casefold=True)),
                          Opt("--skip", ids_in_case(CLAIM_IDS), bad_names(CLAIM_IDS, (1, 3), casefold=True)),
                          Opt("--kind", names(METHODS, (1, 3)), bad_names(METHODS, (1, 3))))),
    Command(("prove",), (Opt("CLAIM_ID", ids_in_case(WITH_PROOF), st.one_of(
        bad_names(CLAIM_IDS, (1, 3), casefold=True), names([c for c in CLAIM_IDS if c not in WITH_PROOF])),
        positional=True),
        *RUN_OPTS)),
    Command(("simulate",), (Opt("CLAIM_ID", ids_in_case(WITH_SIMULATION), st.one_of(
        bad_names(CLAIM_IDS, (1, 3), casefold=True), names(["gradients", "training"]),
        names([c for c in CLAIM_IDS if c not in WITH_SIMULATION])), positional=True), *RUN_OPTS)),
    Command(("llm", "train"), (
        Opt("--preset", names(list(PRESETS)), bad_names(list(PRESETS))),
        Opt("--group-size", names(["2", "4", "8", "16"], (1, 3)).map(lambda g: sorted(set(g), key=int)),
            st.tuples(bad_ints(2), names(["2", "4"], (0, 2))).map(lambda t: [*t[1], *t[0]]), names=("-G",)),
        Opt("--rollouts-per-step", st.sampled_from(["64", "128", "256"]).map(lambda v: [v]), bad_ints(2)),
        Opt("--rollouts-per-minibatch", st.sampled_from(["16", "32", "64"]).map(lambda v: [v]), bad_ints(2)),
        Opt("--steps", ints(1, 10**6), bad_ints(1)),
        Opt("--lr", reals(1e-8, 10.0), bad_reals(below=0.0)),
        Opt("--estimator", names(ALL_ESTIMATORS), bad_names(ALL_ESTIMATORS)),
        Opt("--std", names(STD_MODES), bad_names(STD_MODES)),
        Opt("--loss-type", names(LOSS_TYPES), bad_names(LOSS_TYPES)),
        Opt("--eps-low", reals(0.0, 0.99), bad_reals(below=-1e-9, above=1.0)),
        Opt("--eps-high", reals(0.0, 10.0), bad_reals(below=-1e-9)),
        Opt("--beta", reals(0.0, 10.0), bad_reals(below=-1e-9)),
        Opt("--ppo-epochs", ints(1, 8), bad_ints(1)),
        Opt("--resample-silent"),
        Opt("--task", names(TASKS), bad_names(TASKS)),
        Opt("--reward", names(REWARDS), bad_names(REWARDS)),
        Opt("--device", names(DEVICES), bad_names(DEVICES)),
        Opt("--threads", ints(0, 64), bad_ints(0)),
        Opt("--seed", SEED, BAD_SEED),
        Opt("--out", FRESH, NOT_A_FOLDER),
        Opt("--cache-dir", FRESH, NOT_A_FOLDER),
        Opt("--quiet"))),
    Command(("llm", "experiment"), (
        Opt("--preset", names(list(PRESETS)), bad_names(list(PRESETS))),
        Opt("--budget", names(BUDGETS), bad_names(BUDGETS)),
        Opt("--task", names(TASKS), bad_names(TASKS)),
        Opt("--model", st.sampled_from(["gpt", "hf:./m"]).map(lambda v: [v]),
            st.sampled_from(["nope", "GPT", "hf:", "hf", ""]).map(lambda v: [v])),
        Opt("--arms", names(ARM_KEYS, (0, 2)).map(lambda a: ["grpo16", *a]), st.one_of(
            bad_names(ARM_KEYS, (1, 3)), names([a for a in ARM_KEYS if a != "grpo16"], (1, 2)))),  # no reference arm
        Opt("--out", FRESH, NOT_A_FOLDER),
        Opt("--cache-dir", FRESH, NOT_A_FOLDER),
        Opt("--seed", SEED, BAD_SEED),
        Opt("--threads", ints(0, 64), bad_ints(0)),
        Opt("--device", names(DEVICES), bad_names(DEVICES)),
        Opt("--jobs", ints(1, 16), bad_ints(1)),
        Opt("--ladder", names(EXPERIMENTS, (1, 2)), st.one_of(
            MISSING.map(lambda p: [p]), names(["dir", "afile", "trl_ok"]),
            st.tuples(names(EXPERIMENTS), MISSING).map(lambda t: [*t[0], t[1]]))),
        Opt("--quiet"))),
    Command(("bench",), (
        Opt("name", names(sorted(bench.BENCHMARKS)), bad_names(sorted(bench.BENCHMARKS)), required=True,
            positional=True),
        Opt("--quick"), Opt("--json", FRESH_FILE, NOT_A_FILE_TO_WRITE),
        Opt("--model", st.sampled_from(["tiny-random", "smollm2-135m", "hf:./m"]).map(lambda v: [v]),
            st.sampled_from(["gpt2", "", "hf:"]).map(lambda v: [v]))), cross=("name", "--model")),
    Command(("export",), (
        Opt("engine", names(export.ENGINES), bad_names(export.ENGINES), required=True, positional=True),
        Opt("--arm", names(list(ARMS)), bad_names(list(ARMS)), required=True),
        Opt("--model", st.sampled_from(["Qwen/Qwen2.5-0.5B", "./m", "a b"]).map(lambda v: [v]),
            st.just([""]), required=True),
        Opt("--dataset", st.sampled_from(["d", "data/train.parquet"]).map(lambda v: [v]), st.just([" "]),
            required=True),
        Opt("--val-dataset", st.just(["v.parquet"]), st.just([""])),
        Opt("--out", FRESH_FILE, NOT_A_FILE_TO_WRITE),
        Opt("--format", names(export.FORMATS), bad_names(export.FORMATS)),
        Opt("--run-dir", st.just(["runs/x"]), st.just([""])),
        Opt("--num-processes", ints(1, 8), bad_ints(1)),
        Opt("--per-device-batch", ints(1, 64), bad_ints(1)),
        Opt("--prompts-per-step", ints(1, 1024), bad_ints(1)),
        Opt("--seed", SEED, BAD_SEED))),
    Command(("ingest",), (
        Opt("RUN_DIR", names(["trl_ok", "verl_ok"], (1, 2)).map(lambda r: sorted(set(r))), st.one_of(
            MISSING.map(lambda p: [p]), names([*BAD_RUNS, *BAD_RUN_BINARY, "afile"])), positional=True),
        Opt("--compare", st.just(["trl_ok", "verl_ok"]), st.one_of(
            st.tuples(MISSING, st.just("verl_ok")).map(list), st.just(["nomatch*", "verl_ok"]),
            st.just([",", "verl_ok"]), st.just(["trl_ok", "trl_truncated"]))),
        Opt("--out", FRESH, NOT_A_FOLDER),
        Opt("--group-size", ints(2, 16), bad_ints(2)),
        Opt("--rollouts-per-step", ints(1, 512), bad_ints(1))), one_of=("RUN_DIR", "--compare"),
        cross=("--rollouts-per-step", "--group-size")),  # TRL only; read (and so checked) run by run
    Command(("advise",), (
        Opt("--pass-rates", names(list(PASS_RATE_FILES)), st.one_of(
            names([*BAD_PASS_RATE_FILES, *BAD_BINARY, "dir", "verl_ok"]), MISSING.map(lambda p: [p]))),
        Opt("--run", names(["verl_ok"]), st.one_of(names([*BAD_RUNS, *BAD_RUN_BINARY, "afile"]),
                                                   MISSING.map(lambda p: [p]))),
        Opt("--budget-rollouts", st.integers(1, 32).map(lambda n: [str(2 * n)]),
            st.one_of(bad_ints(2), st.integers(1, 50).map(lambda n: [str(2 * n + 1)])), required=True),
        Opt("--batch-prompts", ints(1, 6), bad_ints(1)),
        Opt("--max-group", ints(2, advise.MAX_GROUP), bad_ints(2, advise.MAX_GROUP)),
        Opt("--measure"),
        Opt("--seed", SEED, BAD_SEED),
        Opt("--json", FRESH_FILE, NOT_A_FILE_TO_WRITE),
        Opt("--model", names(["tiny-random"]), st.just(["gpt-5"])),
        Opt("--probe-prompts", ints(1, 16), bad_ints(1, advise.MAX_PROBE_PROMPTS)),
        Opt("--probe-samples", ints(2, 8), bad_ints(2, advise.MAX_PROBE_SAMPLES)),
        Opt("--threads", ints(0, 2), bad_ints(0, 1024)),
        Opt("--save-pass-rates", FRESH_FILE, NOT_A_FILE_TO_WRITE)),
        exclusive=(("--pass-rates", "--run"), ("--pass-rates", "--model"), ("--run", "--model")),
        one_of=("--pass-rates", "--run", "--model")),
]


@dataclass(frozen=True)
class Case:
    argv: list[str]
    bad: set[str]  # the names an error may use: of options given bad values, missing or in conflict
    given: set[str]  # the names of every option given


def _tokens(opt: Opt, values: list[str], equals: bool) -> list[str]:
    if opt.positional:
        return values
    if opt.valid is None:
        return [opt.flag]
    if len(values) == 1 and equals:
        return [f"{opt.flag}={values[0]}"]
    return [opt.flag, *values]


@st.composite
def cases(draw: st.DrawFn, command: Command, bad_share: float) -> Case:
    """A random argument list for ``command``: a random subset of its options in random order (positionals
    first), each valid or, with probability ``bad_share``, bad; required options usually present."""
    opts = list(command.opts)
    chosen = [o for o in opts if draw(st.floats(0, 1)) < (0.95 if o.required else 0.35)]
    chosen = draw(st.permutations(chosen))
    chosen.sort(key=lambda o: not o.positional)
    argv, bad, given = list(command.path), set(), set()
    for opt in chosen:
        is_bad = opt.bad is not None and draw(st.floats(0, 1)) < bad_share
        values = draw(opt.bad if is_bad else opt.valid) if opt.valid is not None else []
        if opt.positional and not values:
            continue
        argv += _tokens(opt, values, equals=draw(st.booleans()) and not opt.positional)
        given |= opt.called
        if is_bad:
            bad |= opt.called
    flags = {name for name in given if any(o.flag == name for o in opts)}
    bad |= {name for o in opts if o.required and o.flag not in flags for name in o.called}
    for a, b in command.exclusive:
        if a in flags and b in flags:
            bad |= {a, b}
    if command.one_of and not flags & set(command.one_of):
        bad |= set(command.one_of)
    if bad:  # a constraint between valid values may be checked before the bad value
        bad |= given & set(command.cross)
    return Case(argv, bad, given)


SPEC_IDS = [" ".join(c.path) for c in SPECS]


@pytest.mark.parametrize("command", SPECS, ids=SPEC_IDS)
def test_a_bad_value_exits_2_naming_the_option_and_its_range(command: Command, world: World, examples: int) -> None:
    def check(case: Case) -> None:
        outcome = world.invoke(case.argv)
        if case.bad:
            assert_rejected(world, outcome, case.argv, case.bad)
        else:
            assert_accepted_or_rejected_cleanly(world, outcome, case.argv, case.given)

    run_cases(examples, cases(command, bad_share=0.25), check)


@pytest.mark.parametrize("command", SPECS, ids=SPEC_IDS)
def test_valid_values_succeed_or_start_the_work(command: Command, world: World, examples: int) -> None:
    def check(case: Case) -> None:
        if case.bad:  # a required option left out or two in conflict: checked by the test above
            return
        assert_accepted_or_rejected_cleanly(world, world.invoke(case.argv), case.argv, case.given)

    run_cases(examples, cases(command, bad_share=0.0), check)


# --- the specs are the parser's options --------------------------------------------------------------------

def subparsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every (sub)command's parser, by its path of names (``("llm", "train")``), leaves only."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield path, parser
    for action in actions:
        for name, sub in action.choices.items():
            yield from subparsers(sub, (*path, name))


def subparsers_action(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def option_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def test_every_option_of_the_specced_commands_is_fuzzed() -> None:
    """A new option of these commands must get valid and bad values here."""
    specced = {c.path: c for c in SPECS}
    for path, parser in subparsers(PARSER):
        if path not in specced:
            continue
        flags = {o.flag for o in specced[path].opts} | {n for o in specced[path].opts for n in o.names}
        for action in option_actions(parser):
            name = action.option_strings[0] if action.option_strings else (action.metavar or action.dest)
            assert name in flags, f"{' '.join(path)} {name} has no spec in SPECS"


# --- every option of every command, including ones added later: wrong types rejected by argparse -----------

PROBES = ["abc", "", "nan", "inf", "-inf", "1e309", "-1", "0", "1.5", "1e3", "0x10", "١", "None", "[1]", "-", "'"]


def type_rejects(action: argparse.Action, value: str) -> bool:
    """Whether argparse rejects ``value`` for ``action`` while parsing (its type or its choices)."""
    try:
        converted = action.type(value) if callable(action.type) else value
    except (argparse.ArgumentTypeError, TypeError, ValueError):
        return True
    return action.choices is not None and converted not in action.choices


TYPED = [(path, action) for path, parser in subparsers(PARSER) for action in option_actions(parser)
         if action.option_strings and action.nargs != 0 and (callable(action.type) or action.choices)]


@pytest.mark.parametrize(("path", "action"), TYPED, ids=[f"{' '.join(p)} {a.option_strings[0]}" for p, a in TYPED])
def test_a_value_of_the_wrong_type_exits_2_naming_the_option(path: tuple[str, ...], action: argparse.Action,
                                                             world: World, examples: int) -> None:
    """For every typed option of every command (models and pretrained included once they exist): a value its
    type or choices reject ends in argparse's exit 2 naming the option, before any command runs."""
    def check(drawn: tuple[str, bool]) -> None:
        value, equals = drawn
        if not type_rejects(action, value):
            return
        flag = action.option_strings[-1]
        argv = [*path, f"{flag}={value}"] if equals or value.startswith("-") else [*path, flag, value]
        outcome = world.invoke(argv)
        message = error_message(outcome, argv)
        assert any(_names(message, f) for f in action.option_strings), f"{argv}: {message}"
        assert not world.changes()

    values = st.one_of(st.sampled_from(PROBES), st.text(max_size=8))
    run_cases(max(3, examples // 10), st.tuples(values, st.booleans()), check)


# --- random argument lists -----------------------------------------------------------------------------------

UNSTUBBED = set(subparsers_action(PARSER).choices) - set(COMMANDS_WITH_STAND_INS)
"""Commands whose work has no stand-in here (models, pretrained): random lists never start with them."""
ALL_FLAGS = sorted({f for _, p in subparsers(PARSER) for a in option_actions(p) for f in a.option_strings})
TOKENS = st.one_of(st.sampled_from(ALL_FLAGS), st.sampled_from(["train", "experiment", *CLAIM_IDS, *METHODS, *BUDGETS,
                                                                 *PRESETS, "grpovi", "trl", "verl", "grpo2"]),
                   st.sampled_from(["0", "-1", "2", "16", "1.5", "nan", "inf", "1e309", "", "afile", "dir", "missing",
                                    "rates.json", "bad_word.txt", "trl_ok", "verl_ok", "trl_truncated"]),
                   st.text(max_size=6))


def test_random_argument_lists_end_cleanly(world: World, examples: int) -> None:
    """Any list of tokens (the commands' own flags, names, numbers and paths, and random text) after a command
    ends in success, the work reached, or exit 2 with one error line naming an argument; never a traceback."""
    def check(argv: list[str]) -> None:
        outcome = world.invoke(argv)
        if outcome.code == 2:
            message = error_message(outcome, argv)
            assert re.search(r"argument|--[a-z]|\b[A-Z][A-Z_]{2,}\b", message), f"{argv}: names no argument: {message}"
            assert not world.changes(), f"{argv}: rejected, yet wrote {sorted(world.changes())}"
        else:
            assert outcome.code in (0, None), f"{argv}: exit {outcome.code}; {outcome.err}"
            world.undo()

    commands = st.sampled_from([list(c.path) for c in SPECS] + [[]])
    lists = st.tuples(commands, st.lists(TOKENS, max_size=8)).map(lambda t: [*t[0], *t[1]])
    run_cases(4 * examples, lists.filter(lambda argv: not argv or argv[0] not in UNSTUBBED), check)


# --- malformed run logs and pass-rate files, generated ------------------------------------------------------

def corruptions(text: str) -> st.SearchStrategy[bytes]:
    """``text`` truncated, with bytes flipped or inserted, or replaced by random JSON."""
    data = text.encode()
    json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                               lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                                   st.sampled_from(["step", "reward", "log_history", "input", "output", "score",
                                                    "frac_reward_zero_std", "step_time", "x"]), inner, max_size=4),
                               max_leaves=12)
    return st.one_of(
        st.integers(0, len(data)).map(lambda n: data[:n]),
        st.tuples(st.integers(0, len(data) - 1), st.binary(min_size=1, max_size=3)).map(
            lambda t: data[:t[0]] + t[1] + data[t[0] + 1:]),
        json_values.map(lambda v: json.dumps(v).encode()),
        json_values.map(lambda v: json.dumps({"log_history": [v]}).encode()),
    )


VERL_LINES = (FIXTURES / "verl_run" / "rollouts" / "1.jsonl").read_text()


@pytest.mark.parametrize("kind", ["trl", "verl", "pass-rates"])
def test_a_corrupted_input_file_is_read_or_rejected_naming_its_option(kind: str, world: World, examples: int) -> None:
    """A truncated, bit-flipped or foreign trainer_state.json / {step}.jsonl / pass-rate file: ``ingest`` and
    ``advise`` either read it (the work is reached) or exit 2 naming RUN_DIR, --run or --pass-rates."""
    source = {"trl": json.dumps(TRL_STATE), "verl": VERL_LINES, "pass-rates": PASS_RATE_FILES["rates.json"]}[kind]

    def check(data: bytes) -> None:
        folder = world.root / "corrupt"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        name = {"trl": "trainer_state.json", "verl": "1.jsonl", "pass-rates": "rates.json"}[kind]
        (folder / name).write_bytes(data)
        runs = [] if kind == "pass-rates" else [(["ingest", "corrupt"], {"RUN_DIR"}),
                                                (["advise", "--run", "corrupt", "--budget-rollouts", "8"], {"--run"})]
        files = [(["advise", "--pass-rates", "corrupt/rates.json", "--budget-rollouts", "8"], {"--pass-rates"})]
        for argv, option in runs if kind != "pass-rates" else files:
            outcome = world.invoke(argv)
            if outcome.code == 2:
                assert_rejected(world, outcome, argv, option)
            else:
                assert outcome.reached, f"{argv}: exit {outcome.code}; {outcome.err}"
        shutil.rmtree(folder)

    run_cases(examples, corruptions(source), check)


# --- each bug the fuzzing found, pinned by one example ------------------------------------------------------

FOUND = {  # what happened before -> the argv and the error it gives now
    "negative seed reached the checks": (["report", "--seed", "-1"], "argument --seed: invalid value '-1': must be an "
                                         f"integer in [0, {common.SEED_MAX}]"),
    "--seed=-- parsed as seed=[] (argparse < 3.12)": (["report", "--seed=--"],
                                                      "argument --seed: expected one argument"),
    "--out a file: the checks ran, then the write failed": (["report", "--out", "afile"],
                                                            "--out='afile' is a file; it must be a folder"),
    "--out '' wrote into the current folder": (["prove", "--out", ""], "argument --out: invalid value '': must be a "
                                               "non-empty name or path"),
    "export --out a folder: IsADirectoryError traceback": (
        ["export", "trl", "--arm", "grpo2", "--model", "m", "--dataset", "d", "--out", "dir"],
        "--out='dir' is a folder; it must name a file"),
    "export --out under a file: FileExistsError traceback": (
        ["export", "trl", "--arm", "grpo2", "--model", "m", "--dataset", "d", "--out", "afile/x.yaml"],
        "--out='afile/x.yaml' lies under 'afile', which is a file"),
    "export verl --prompts-per-step 0 taken as the default": (
        ["export", "verl", "--arm", "grpo2", "--model", "m", "--dataset", "d", "--prompts-per-step", "0"],
        "argument --prompts-per-step: invalid value '0': must be an integer >= 1"),
    "export --model '' written into the config": (
        ["export", "trl", "--arm", "grpo2", "--model", "", "--dataset", "d"], "argument --model: invalid value ''"),
    "bench --json a folder: the benchmark ran, then the write failed": (
        ["bench", "grpovi", "--json", "dir"], "--json='dir' is a folder; it must name a file"),
    "advise odd budget: 'budget=7 is a multiple of none of group_sizes'": (
        ["advise", "--pass-rates", "rates.json", "--budget-rollouts", "7"],
        "--budget-rollouts=7 must be an even integer >= 2"),
    "advise 400-digit pass rate: OverflowError traceback": (
        ["advise", "--pass-rates", "bad_huge.json", "--budget-rollouts", "8"],
        "--pass-rates='bad_huge.json' must hold one or more numbers in [0, 1]"),
    "advise deeply nested JSON: RecursionError traceback": (
        ["advise", "--pass-rates", "bad_deep.json", "--budget-rollouts", "8"],
        "--pass-rates='bad_deep.json' must hold one or more numbers in [0, 1]"),
    "advise [true, false] read as pass rates 1 and 0": (
        ["advise", "--pass-rates", "bad_bool.json", "--budget-rollouts", "8"], "as a flat JSON list"),
    "advise ['0.5'] read as a number": (["advise", "--pass-rates", "bad_strings.json", "--budget-rollouts", "8"],
                                        "as a flat JSON list"),
    "advise a word in a text file: 'could not convert string to float'": (
        ["advise", "--pass-rates", "bad_word.txt", "--budget-rollouts", "8"], "'half' is neither"),
    "advise binary file: 'utf-8 codec can't decode'": (
        ["advise", "--pass-rates", "bad_binary.bin", "--budget-rollouts", "8"],
        "--pass-rates='bad_binary.bin' is not UTF-8 text"),
    "advise ragged JSON: numpy's 'inhomogeneous shape'": (
        ["advise", "--pass-rates", "bad_ragged.json", "--budget-rollouts", "8"], "as a flat JSON list"),
    "advise --measure, batch too large: rejected only after the whole advice": (
        ["advise", "--pass-rates", "rates100.json", "--budget-rollouts", "400", "--batch-prompts", "100",
         "--measure"], "--batch-prompts=100 must be <= 64"),
    "advise --json a folder: the advice ran, then the write failed": (
        ["advise", "--pass-rates", "rates.json", "--budget-rollouts", "8", "--json", "dir"],
        "--json='dir' is a folder"),
    "advise --max-group 100000: O(G^3) moments, a hang": (
        ["advise", "--pass-rates", "rates.json", "--budget-rollouts", "8", "--max-group", "100000"],
        f"argument --max-group: invalid value '100000': must be an integer in [2, {advise.MAX_GROUP}]"),
    "advise --run with a null reward: TypeError traceback": (
        ["advise", "--run", "trl_null_reward", "--budget-rollouts", "8"],
        "--run='trl_null_reward' must be a TRL or verl run as their trainers write it: trl_null_reward/"
        "trainer_state.json: log_history[0] (step 1): reward=None must be a finite number"),
    "ingest step [1]: TypeError traceback": (["ingest", "trl_list_step"],
                                             "RUN_DIR='trl_list_step' must be a TRL or verl run"),
    "ingest a NaN score (json reads verl's NaN) read as a reward": (
        ["ingest", "verl_nan_score"], "verl_nan_score/1.jsonl:1: score=nan must be a finite number"),
    "ingest reward 'x': float's message, naming no field": (
        ["ingest", "trl_text_reward"],
        "trl_text_reward/trainer_state.json: log_history[0] (step 1): reward='x' must be a finite number"),
    "ingest binary step file: 'utf-8 codec' message naming nothing": (["ingest", "verl_binary"],
                                                                    "RUN_DIR='verl_binary' must be a TRL or verl run"),
    "ingest a name too long: OSError traceback": (["ingest", "x" * 300], "is not a usable path (File name too long)"),
    "ingest --compare ',' B: read every run before saying a side is empty": (
        ["ingest", "--compare", ",", "verl_ok"], "--compare: A=',' must name one or more run folders"),
    "llm train --lr inf trained with an infinite step": (
        ["llm", "train", "--lr", "inf"], "argument --lr: invalid value 'inf': must be a finite number > 0"),
    "llm train --threads -1 named the field threads=": (
        ["llm", "train", "--threads", "-1"], "argument --threads: invalid value '-1': must be an integer >= 0"),
    "llm train --rollouts-per-step 24: 'prompts_per_minibatch=32 must divide prompts_per_step=12'": (
        ["llm", "train", "--rollouts-per-step", "24"],
        "--rollouts-per-step=24 must be a multiple of every --group-size; 16 does not divide it"),
    "llm train -G 2 2: two runs into one run folder": (["llm", "train", "-G", "2", "2"], "names a group size twice"),
    "llm train --out a file: found after the warm start": (["llm", "train", "--out", "afile"],
                                                          "--out='afile' is a file"),
    "llm train --loss-type named the field loss_type=": (["llm", "train", "--loss-type", "sapo"],
                                                        "argument --loss-type: invalid choice: 'sapo'"),
    "llm experiment --seed -1 reached the run": (["llm", "experiment", "--seed", "-1"], "argument --seed: invalid "
                                                 f"value '-1': must be an integer in [0, {common.SEED_MAX}]"),
    "llm experiment --threads -2 named the field threads=": (
        ["llm", "experiment", "--threads", "-2"], "argument --threads: invalid value '-2': must be an integer >= 0"),
    "llm experiment --jobs 1.5: int's own message": (
        ["llm", "experiment", "--jobs", "1.5"], "argument --jobs: invalid value '1.5': must be an integer >= 1"),
    "llm experiment --out a file: not checked before the run": (["llm", "experiment", "--out", "afile"],
                                                                "--out='afile' is a file; it must be a folder"),
    "llm experiment --cache-dir a file: not checked before the run": (
        ["llm", "experiment", "--cache-dir", "afile/sub"],
        "--cache-dir='afile/sub' lies under 'afile', which is a file"),
    "llm experiment --model nope named the field model=": (["llm", "experiment", "--model", "nope"],
                                                           "--model='nope' is not allowed; use gpt or hf:PATH"),
    "llm experiment --arms without grpo16 named the field arms=": (
        ["llm", "experiment", "--arms", "grpo2-tt"], "--arms=('grpo2-tt',) must include the reference arm 'grpo16'"),
    "llm experiment --ladder missing named the field folder=": (
        ["llm", "experiment", "--ladder", "exp_tiny", "missing"], "--ladder='missing' must be a finished experiment"),
    "llm experiment --ladder ignored a bad --model": (["llm", "experiment", "--ladder", "exp_tiny", "--model", "nope"],
                                                      "--model='nope' is not allowed"),
}


@pytest.mark.parametrize("bug", list(FOUND))
def test_found_by_fuzzing(bug: str, world: World) -> None:
    argv, message = FOUND[bug]
    outcome = world.invoke(argv)
    assert message in error_message(outcome, argv)
    assert not world.changes()


def test_found_by_fuzzing_llm_train_group_size_32_without_resampling_trains(world: World) -> None:
    """-G 32 was refused with 'resample_rollouts_per_prompt=16 must be >= group_size=32' though nothing resamples."""
    assert world.invoke(["llm", "train", "-G", "32"]).reached
    assert world.invoke(["llm", "train", "-G", "32", "--resample-silent"]).err.endswith(
        "--group-size=32 must be <= 16 with --resample-silent, which caps the rollouts per prompt at 16 (16-GRPO's)\n")
