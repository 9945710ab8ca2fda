"""Mutation testing of the modules that decide numbers and verdicts (issue 18, item 4).

    python tools/mutation.py                      # theory + evidence, about 40 minutes on 2 shared cores
    python tools/mutation.py --groups gpu_runs    # losses and top-p sampling (torch: forked from a server)
    python tools/mutation.py --groups theory --max-children 1

A mutant is one small, realistic bug (a comparison flipped, + for -, 1 for 0, a default string changed, an
argument dropped): a test suite that lets it pass would let the same bug pass. The script

1. copies the working tree (tracked and untracked files that git does not ignore) into a temporary folder,
   so that a run of 40 minutes never sees a half-edited file and never leaves ``mutants/`` in the repo;
2. writes there a ``[tool.mutmut]`` section naming the modules of the chosen groups (``GROUPS``) and the
   test files that guard them, and runs ``mutmut run`` (mutmut 3.x: each mutant is a trampolined copy of one
   function, and each mutant runs only the tests that called that function in a first, recorded run);
3. merges its results into ``results/mutation/summary.json`` group by group (per group: the command,
   machine, date and commit of the run that last checked it; per module: mutants, killed, survived, timeouts,
   equivalent, score; each mutant not killed), so that a run of ``--groups gpu_runs`` keeps the theory and
   evidence results, and renders ``results/mutation/survivors.md`` from it (each surviving mutant as a
   ``-``/``+`` diff line, with the reason when it is listed in ``EQUIVALENT``).

The score is (killed + timeouts) / (mutants - equivalent): a surviving mutant that is not explained as
equivalent is a test to write. mutmut also mutates error-message strings; a test that matches the message
(``pytest.raises(ValueError, match="std='x'")``) kills those, which is what the "names the argument" rule
of STYLE.md asks anyway.

Run the theory/evidence groups at ``nice -n 10`` (the script renices itself) on a machine shared with
other work; every mutant is independent, so ``--max-children`` trades wall time for cores one for one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "results" / "mutation"


@dataclass(frozen=True)
class Group:
    """Modules mutated together and the test files that guard them."""

    modules: tuple[str, ...]
    tests: tuple[str, ...]
    deselect: tuple[str, ...] = ()  # slow tests of other layers that merely call these modules
    fork_server: bool = False  # torch is not fork-safe after import: fork mutants from a clean server


GROUPS = {
    "theory": Group(
        modules=("theory/advantages.py", "theory/estimators.py", "theory/expectations.py",
                 "theory/statistics.py", "theory/grpovi.py", "theory/contrastive.py"),
        tests=("tests/test_theory_*.py", "tests/test_grpovi.py", "tests/test_mutants_theory.py"),
        deselect=tuple(f"tests/test_grpovi.py::{t}" for t in (  # the simulations' VI/BY checks, seconds each
            "test_checks_pass_and_each_writes_its_own_json", "test_checks_same_seed_same_numbers",
            "test_vi1_vi2_check_returns_only_the_claims_asked_with_the_same_numbers",
            "test_by1_gives_the_same_numbers_alone_as_after_its_neighbours")),
    ),
    "evidence": Group(
        modules=("evidence/record.py", "evidence/verdicts.py"),
        tests=("tests/test_evidence_*.py", "tests/test_verdicts.py", "tests/test_mutants_evidence.py"),
    ),
    "gpu_runs": Group(
        modules=("gpu_runs/losses.py", "gpu_runs/sampling.py"),
        tests=("tests/test_losses.py", "tests/test_llm_sampling.py", "tests/test_mutants_gpu_runs.py"),
        fork_server=True,
    ),
}
DEFAULT_GROUPS = ("theory", "evidence")


@dataclass(frozen=True)
class Equivalent:
    """Surviving mutants that no test can kill: those of the functions matching ``function`` (a glob over
    mutmut's mangled name without the mutant number, e.g. ``theory.advantages.x_group_advantages``) whose
    mutated line contains ``added``, whatever their number; ``reason`` says why behaviour is unchanged."""

    function: str
    added: str
    reason: str


_REFERENCE = "theory.grpovi.x_adjust_rewards_reference"
_BUCKETS = "theory.grpovi.x__crossing_by_buckets"
_SAME_POINT = ("the feasible extreme points are (a, b) with prefix[a] <= tau <= prefix[b] (c in [0, 1]) and the "
               "optimum is the largest such a with the smallest such b; this objective still grows with a and falls "
               "with b there, so the enumeration picks the same point (400 seeded groups and the hypothesis groups "
               "of test_grpovi agree with the greedy)")
_SLACK = ("the slack only admits a c that rounding put a few ulps outside [0, 1]; changing it by a constant factor "
          "or by 1e-12 changes which point is feasible only for a c that lands exactly between the two allowances")
_BUCKET_SHAPE = ("bucket count and bucket map only decide how fast the candidates shrink; any nondecreasing map "
                 "keeps the crossing response in the kept bucket, and the last candidates are sorted exactly")
_EXACT_MASS = ("a running weight exactly equal to the mass: the response that reaches it gets y = 1 and the next "
               "y = 0 whichever of the two is called the crossing one, so z is the same")
_ALL_EQUAL = "every candidate has the same key here (low == high), so any member is the same crossing reward"

_SILENT_DIVISOR = ("the divisor of a silent group (the only groups with scale 0), whose advantages the final np.where "
                   "sets to 0; a divisor of 1 where scale == 1 is the same division")
_BATCH_DIVISOR = "the batch std is 0 only when every reward is equal, so every group is silent and set to 0"
_ADVANTAGES = "theory.advantages.x_group_advantages"
_WEIGHTLESS = "theory.grpovi.x__place_weightless"
_TWO_D = "the arrays here are 2-D (groups, n): axis +1 is axis -1 and numpy's default axis is -1"

_ADJUST = "theory.grpovi.x_adjust_rewards"
_SORTING = "theory.grpovi.x__crossing_by_sorting"
_TIE = "theory.grpovi.x__resolve_tie"
_ONLY_READ = ("the array is only read afterwards (nothing writes into it in place), so whether astype copies it "
              "changes no value")
_NOT_READ_AGAIN = "the buffer that ``out=`` reuses is not read after this line; out= only saves an allocation"
_DECIDED_NEXT = ("the next line sets y_frac to 0 where excess <= landing and to 1 where w_frac - excess <= landing; "
                 "every value this mutant changes (y < 0 or > 1, a zero w_frac) falls in one of the two")

EQUIVALENT: tuple[Equivalent, ...] = (
    Equivalent(_ADVANTAGES, "np.where(None, 1.0, scale)", _SILENT_DIVISOR),
    Equivalent(_ADVANTAGES, "np.where(silent & (scale == 0), 1.0, scale)", _SILENT_DIVISOR),
    Equivalent(_ADVANTAGES, "np.where(silent | (scale == 1), 1.0, scale)", _SILENT_DIVISOR),
    Equivalent(_ADVANTAGES, "np.where(silent | (scale == 0), 2.0, scale)", _SILENT_DIVISOR),
    Equivalent(_ADVANTAGES, "(scale if (scale > 0) or True else 1.0)", _BATCH_DIVISOR),
    Equivalent(_ADVANTAGES, "(scale if scale >= 0 else 1.0)", _BATCH_DIVISOR),
    Equivalent(_ADVANTAGES, "(scale if scale > 0 else 2.0)", _BATCH_DIVISOR),
    Equivalent("theory.grpovi.x_*", 'kind="STABLE"', "numpy reads the sort kind case-insensitively"),
    Equivalent(_WEIGHTLESS, "z.shape[+1]", _TWO_D),
    Equivalent(_WEIGHTLESS, "axis=+1", _TWO_D),
    Equivalent(_WEIGHTLESS, 'np.argsort(-r, kind="stable")', _TWO_D),
    Equivalent(_WEIGHTLESS, "np.take_along_axis(a, order, )", _TWO_D),
    Equivalent(_WEIGHTLESS, "np.maximum(previous, 0), )", _TWO_D),
    Equivalent(_WEIGHTLESS, "np.minimum(following, n - 1), )", _TWO_D),
    Equivalent(_WEIGHTLESS, "np.where(starts, slot, 0), )", _TWO_D),
    Equivalent(_WEIGHTLESS, "[:, ::-1], )[:, ::-1]", _TWO_D),
    Equivalent(_WEIGHTLESS, "np.where(visible_s, slot, -2)", "-1 and -2 both mean 'no visible response above', read "
               "only through previous >= 0 and np.maximum(previous, 0)"),
    Equivalent("theory.grpovi.x__crossing_by_sorting", "np.argsort(keys, )", _TWO_D),
    Equivalent("theory.*", ".astype(None)", "numpy's astype(None) is astype(float64)"),
    Equivalent("theory.grpovi.*", "np.finfo(None)", "np.finfo(None) is np.finfo(float64)"),
    Equivalent("theory.contrastive.*", '"...G,...GD->...D"', "a consistent renaming of einsum's axis labels"),
    Equivalent("theory.statistics.x_mean_ci", "np.errstate(", "only which floating-point warnings are silenced"),
    Equivalent("theory.statistics.x_mean_ci", 'simplefilter("ignore", )',
               "silences every warning instead of RuntimeWarning only; values unchanged"),
    Equivalent("theory.statistics.x_mean_ci", "if (x.shape[axis] > 1) or True else",
               "with one value along axis, nanstd(ddof=1) is NaN but n <= 1 there, so the half width is 0 anyway"),
    Equivalent("theory.statistics.x_mean_ci", "if x.shape[axis] >= 1 else",
               "with one value along axis, nanstd(ddof=1) is NaN but n <= 1 there, so the half width is 0 anyway"),
    Equivalent("theory.statistics.x_mean_ci", "np.sqrt(np.maximum(n, 2))",
               "differs only where n <= 1, where np.where returns 0"),
    Equivalent("theory.contrastive.x_contrastive_update", "safe = np.where(w >= 0, w, 1.0)",
               "w = 0 only for a silent group, whose update np.where sets to 0 (the 0/0 is discarded)"),
    Equivalent("theory.contrastive.x_contrastive_update", "safe = np.where(w > 0, w, 2.0)",
               "the divisor of a silent group, whose update np.where sets to 0"),
    Equivalent("theory.contrastive.x_contrastive_update", "return np.where(w >= 0,",
               "w = 0 means A = 0 everywhere, so w / G (mean_pos - mean_neg) is 0 as well"),
    Equivalent("theory.expectations.x_expected_pair_advantage", "axis=+1)",
               "values is 1-D, so axis +1 of the stacked pairs is axis -1"),
    Equivalent(_REFERENCE, "best_point = -np.inf, (1, n, tau)",
               "the default point is never used: a = the largest prefix <= tau with b = n is always feasible"),
    Equivalent(_REFERENCE, "np.where(mass >= 0, mass, 1.0)", "mass = 0 only for weightless blocks, never feasible"),
    Equivalent(_REFERENCE, "np.where(mass > 0, mass, 2.0)", "mass = 0 only for weightless blocks, never feasible"),
    Equivalent(_REFERENCE, "np.where(mass > 1, mass, 1.0)", _SLACK),
    Equivalent(_REFERENCE, "np.where(None, mass, 1.0)", _SLACK),
    Equivalent(_REFERENCE, "eps * np.where(mass > 0", _SLACK),
    Equivalent(_REFERENCE, "slack = 1e-12 + 9 *", _SLACK),
    Equivalent(_REFERENCE, "(c > -slack)", _SLACK),
    Equivalent(_REFERENCE, "(c < 1.0 + slack)", _SLACK),
    Equivalent(_REFERENCE, "break", "once prefix[a] > tau no later a is feasible either (prefix grows with a), and "
               "every a with prefix[a] <= tau has the feasible b = n, so the loop never skips and continues"),
    Equivalent(_REFERENCE, "c = np.clip(c,", "c is within the slack of [0, 1] here; the final clip of z to [lo, hi] "
               "absorbs the difference"),
    Equivalent(_REFERENCE, "y_new[:a] = 2.0", "the final clip of z to [lo, hi] turns lo - 2 lo + 2 hi back into hi"),
    Equivalent(_REFERENCE, "z[order] = np.clip(lo * (1.0 - y_new) + hi * y_new,",
               "y_new is in [0, 1], so lo (1 - y) + hi y is already in [lo, hi] (exactly at y = 0 and 1)"),
    Equivalent(_REFERENCE, "variance =", _SAME_POINT),
    Equivalent(_REFERENCE, "w = np.full(n,", "c is invariant to a common scale of the weights; " + _SAME_POINT),
    Equivalent(_BUCKETS, "if values.size < BUCKET_SORT:", "one more bucket level at exactly BUCKET_SORT candidates"),
    Equivalent(_BUCKETS, "return 1 if index is None", _ALL_EQUAL),
    Equivalent(_BUCKETS, "int(index[1])", _ALL_EQUAL),
    Equivalent(_BUCKETS, "buckets = min(", _BUCKET_SHAPE),
    Equivalent(_BUCKETS, "scaled /= buckets", _BUCKET_SHAPE),
    Equivalent(_BUCKETS, "scaled *= buckets * (high - low)", _BUCKET_SHAPE),
    Equivalent(_BUCKETS, "buckets - 2)", _BUCKET_SHAPE),
    Equivalent(_BUCKETS, "np.bincount(bucket, weights=weights, ))", "the top bucket holds the maximum, so bincount "
               "has all buckets up to the crossing one (the mass is below the total) without minlength"),
    Equivalent(_BUCKETS, "cumulative < mass", _EXACT_MASS),
    Equivalent(_BUCKETS, "running < mass", _EXACT_MASS),
    Equivalent(_BUCKETS, "buckets + 1)", "j <= the buckets whose weight is <= mass < total, never the cap"),
    Equivalent(_BUCKETS, "order.size + 1)", "the count is below order.size (mass < the candidates' weight)"),
    Equivalent("theory.grpovi.x_*", ".astype(None, copy=False)", "numpy's astype(None) is astype(float64)"),
    Equivalent("theory.grpovi.x__check_rewards", "copy=None)", _ONLY_READ),
    Equivalent("theory.grpovi.x__check_rewards", "copy=True)", _ONLY_READ),
    Equivalent("theory.grpovi.x__check_rewards", "astype(np.float64, )", _ONLY_READ),
    Equivalent("theory.grpovi.x_group_weights", "copy=None)", _ONLY_READ),
    Equivalent("theory.grpovi.x_group_weights", "copy=True)", _ONLY_READ),
    Equivalent("theory.grpovi.x_group_weights", "astype(np.float64, )", _ONLY_READ),
    Equivalent(_ADJUST, "reshape(-2, n)", "numpy reads any negative size as the one unknown dimension"),
    Equivalent(_ADJUST, "axis=+1", _TWO_D),
    Equivalent(_ADJUST, "np.subtract(w, w_y, out=None)", "y is not read after this line; " + _NOT_READ_AGAIN),
    Equivalent(_ADJUST, "np.subtract(w, w_y, )", "y is not read after this line; " + _NOT_READ_AGAIN),
    Equivalent(_ADJUST, "out=None).sum(axis=-1)", _NOT_READ_AGAIN),
    Equivalent(_ADJUST, "r < t[:, None], ).sum(axis=-1)", _NOT_READ_AGAIN),
    Equivalent(_ADJUST, "np.multiply(w_1my, above, ).sum(axis=-1)", _NOT_READ_AGAIN),
    Equivalent(_ADJUST, "r / np.where(top, -1.0, 1.0)", "dividing by -1 or 1 is multiplying by it, exactly"),
    Equivalent(_ADJUST, "if B == 1 and n > BUCKET_MIN_N:", "at n = BUCKET_MIN_N exactly the sort finds the same "
               "crossing as the buckets (test_large_group_takes_the_bucket_path_and_matches_the_greedy)"),
    Equivalent(_ADJUST, "np.flatnonzero(counts >= 1)", "a row whose tie has one member goes through _resolve_tie "
               "twice with the same member weight, masses and landing, and the second pass writes the same values"),
    Equivalent(_ADJUST, "freed[one] + cost[one], lo, hi, None, ulps)", "a tie of one member is resolved alike in "
               "split and keep: it is done (hi) when its weight is <= E, where keep's y = E / W >= 1 gives hi too"),
    Equivalent(_SORTING, "axis=+1", _TWO_D),
    Equivalent(_SORTING, "order if (B == 1) and False else", "for B = 1 the row offset np.arange(1) * n is 0"),
    Equivalent(_SORTING, "np.clip(k, None, n - 1)", "k is a count of entries, or floor(mass n) with mass >= 0 for "
               "uniform weights (tau <= 1 there), never below 0"),
    Equivalent(_SORTING, "np.clip(k, 0, None)", "mass = min(tau, 1 - tau) <= 0.5 is below the total weight 1, so "
               "k < n"),
    Equivalent(_SORTING, "np.clip(k, 0, n + 1)", "mass = min(tau, 1 - tau) <= 0.5 is below the total weight 1, so "
               "k < n"),
    Equivalent(_TIE, "axis=+1", _TWO_D),
    Equivalent(_TIE, "done = np.zeros_like(None)", "np.zeros_like(None) is the object 0, read as False by np.where "
               "and as 0 in member_w * done, like the boolean zeros"),
    Equivalent(_TIE, "np.cumsum(member_w, axis=-1) < carried", _EXACT_MASS),
    Equivalent(_TIE, "1.0), None, 1.0)", _DECIDED_NEXT),
    Equivalent(_TIE, "1.0), 0.0, None)", _DECIDED_NEXT),
    Equivalent(_TIE, "np.where(w_frac >= 0, w_frac, 1.0)", _DECIDED_NEXT),
    Equivalent(_TIE, "np.where(w_frac > 0, w_frac, 2.0)", _DECIDED_NEXT),
    Equivalent(_TIE, "1.0), 0.0, 2.0)", _DECIDED_NEXT),
    Equivalent(_TIE, "<= landing, 2.0, y_frac)", "y = 2 gives 2 hi - lo >= hi, which the clip of z_frac turns into "
               "hi exactly, the value of y = 1"),
    Equivalent(_WEIGHTLESS, "np.where(previous > 0,", "the response at slot 0 (the top reward) has z >= its reward "
               "(VI-2 gives it hi or tau / w), so above the rewards after it: its z and hi clip them alike"),
    Equivalent(_WEIGHTLESS, "np.where(previous >= 1,", "the response at slot 0 (the top reward) has z >= its reward "
               "(VI-2 gives it hi or tau / w), so above the rewards after it: its z and hi clip them alike"),
    Equivalent(_TIE, "np.clip(lo * (1.0 - y_frac) + hi * y_frac, None, hi)",
               "y_frac is in [0, 1], so lo (1 - y) + hi y is already in [lo, hi] (no overshoot in 200 000 random "
               "(lo, hi, y), exactly lo and hi at y = 0 and 1)"),
    Equivalent(_TIE, "np.clip(lo * (1.0 - y_frac) + hi * y_frac, lo, None)",
               "y_frac is in [0, 1], so lo (1 - y) + hi y is already in [lo, hi] (no overshoot in 200 000 random "
               "(lo, hi, y), exactly lo and hi at y = 0 and 1)"),
    Equivalent(_WEIGHTLESS, "np.where(following <= n,", "following = n only for weightless responses at the end "
               "of the order; the last slot holds the lowest reward, which the greedy set to lo (below t, or a tie "
               "whose carried mass, at most its own tiny weight, lands on lo), so z_s[n - 1] is lo"),
    Equivalent(_WEIGHTLESS, "np.ones_like(r_s[:, :1], dtype=None)", "float ones: starts and ends are only read as "
               "truth values by np.where"),
    Equivalent(_WEIGHTLESS, "np.ones_like(r_s[:, :1], )", "float ones: starts and ends are only read as truth "
               "values by np.where"),
    Equivalent(_WEIGHTLESS, "np.where(ends, slot, n + 1)", "the last slot always ends a block, so the running "
               "minimum from the right never reads a fill value >= n - 1"),
    Equivalent(_WEIGHTLESS, "free = (previous < block_start)", "a visible response is its own previous and "
               "following, inside its block, so the condition is false there and free = ~visible already"),
    Equivalent(_REFERENCE, "(c >= +slack)", "a point with c = 0 on [a, b) is the point with c = 1 on the block "
               "before a (or all lo, the default point, when a = 0), which stays feasible: only a duplicate goes"),
    Equivalent(_REFERENCE, "(c <= 1.0 - slack)", "a point with c = 1 on [a, b) is the point with c = 0 on the block "
               "after b (or all hi, the default point, when b = n), which stays feasible: only a duplicate goes"),
    Equivalent("theory.statistics.x_fieller_ratio", "student_t.ppf((1 - level) / 2",
               "Student's t is symmetric (t_{(1-level)/2} = -t_{(1+level)/2}) and only its square is used; bit for "
               "bit at level 0.95, 0.99, 0.8, 0.5 (at 0.9, 1 - 0.9 rounds: 2.5e-15 relative)"),
    Equivalent("theory.statistics.x_fieller_ratio", "np.cov(a, b, ddof=None)",
               "np.cov's default (ddof=None, bias=False) divides by n - 1, as ddof=1 does"),
    Equivalent("theory.statistics.x_fieller_ratio", "np.cov(a, b, )",
               "np.cov's default (ddof=None, bias=False) divides by n - 1, as ddof=1 does"),
    Equivalent("theory.statistics.x_seeds_to_resolve", 'check_real("gap", gap, finite=None)',
               "check_real reads finite only as a truth value, and None is false like False"),
    Equivalent(_ADJUST, "top = tau <= 0.5", "at tau = 0.5 both sides search for mass 0.5; they pick different "
               "responses only where a running weight equals 0.5 exactly, and there the one picked gets y = 0 or 1 "
               "whichever it is, so z is the same"),
    Equivalent("gpu_runs.losses.x_aggregate_grpo", ".sum(+1)", "per_token_loss and mask are (N, T): dim +1 is dim -1"),
    Equivalent("gpu_runs.losses.x_aggregate_dapo", "device=None)", "a 0-d tensor on the CPU combines with a tensor on "
               "any device (torch treats it as a scalar), and the quotient is the same number"),
    Equivalent("gpu_runs.losses.x_aggregate_dapo", "dtype=mask.dtype, )", "a 0-d tensor on the CPU combines with a "
               "tensor on any device (torch treats it as a scalar), and the quotient is the same number"),
    Equivalent("gpu_runs.losses.x_dpo_sigmoid_loss", 'float("INF")', "float() reads 'INF' as infinity too"),
    Equivalent("gpu_runs.sampling.x_pick_tokens", "dim=+1", "logits, probabilities and log-probs are (N, V): "
               "dim +1 is dim -1"),
    Equivalent("gpu_runs.sampling.x_pick_tokens", "scatter(+1,", "probabilities are (N, V): dim +1 is dim -1"),
    Equivalent("gpu_runs.sampling.x_pick_tokens", "probs.sort(descending=True)", "sort's default dim is -1"),
    Equivalent("gpu_runs.sampling.x_pick_tokens", "F.log_softmax(scaled, dim=None)",
               "for a 2-D input torch's implicit softmax dim is 1, the last"),
    Equivalent("gpu_runs.sampling.x_pick_tokens", "F.log_softmax(scaled, )",
               "for a 2-D input torch's implicit softmax dim is 1, the last"),
    Equivalent("evidence.verdicts.x__check_bound", "finite=None)",
               "check_real reads finite only as a truth value, and None is false like False"),
    Equivalent("theory.statistics.x_seeds_to_resolve", "n = np.arange(n_max + 1)",
               "n = 0 and 1 give Student quantiles with -1 and 0 degrees of freedom, NaN in scipy, and NaN < |gap| "
               "is false: they are never picked"),
)


def _mutant_files(repo: Path) -> list[str]:
    listing = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=repo, check=True,
                             capture_output=True, text=True).stdout
    return [p for p in listing.split("\0") if p and (repo / p).is_file()]


def copy_tree(repo: Path, dest: Path) -> None:
    """The working tree as git sees it (no ignored files: no .venv, no caches) under ``dest``."""
    for rel in _mutant_files(repo):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, target)


def mutmut_section(groups: list[str], modules: list[str], root: Path) -> str:
    """The ``[tool.mutmut]`` TOML section mutating ``modules`` under the tests of ``groups`` (test globs
    expanded against ``root``)."""
    chosen = [GROUPS[g] for g in groups]
    packages = sorted({m.split("/")[0] + "/" for m in modules})
    tests = sorted({str(p.relative_to(root)) for g in chosen for pattern in g.tests for p in root.glob(pattern)})
    fork_server = any(g.fork_server for g in chosen)
    pytest_args = ["-p", "no:cacheprovider", "--hypothesis-seed=0"]  # a reproducible run
    pytest_args += [arg for g in chosen for test in g.deselect for arg in ("--deselect", test)]
    lines = [
        "[tool.mutmut]",
        f"source_paths = {json.dumps(packages)}",
        f"only_mutate = {json.dumps(modules)}",
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        f"pytest_add_cli_args = {json.dumps(pytest_args)}",
        f'process_isolation = "{"forkserver" if fork_server else "fork"}"',
        "use_git_change_detection = false",
    ]
    return "\n".join(lines) + "\n"


def run_mutmut(work: Path, max_children: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(work)}  # every project package from the copy, never the repo
    mutmut = [sys.executable, "-m", "mutmut"]
    with open(work / "mutmut.log", "w") as log:
        subprocess.run([*mutmut, "run", "--max-children", str(max_children)], cwd=work, env=env, check=True,
                       stdout=log, stderr=subprocess.STDOUT)


def read_results(work: Path) -> dict[str, str]:
    """mutant name -> status ('killed', 'survived', 'timeout', 'no tests', ...), from ``mutmut results``."""
    env = {**os.environ, "PYTHONPATH": str(work)}
    text = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=work, env=env,
                          check=True, capture_output=True, text=True).stdout
    return dict(re.findall(r"^\s*(\S+): (.+?)\s*$", text, flags=re.MULTILINE))


DIFFS_SCRIPT = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
print(json.dumps({name: get_diff_for_mutant(name) for name in json.load(sys.stdin)}))
"""


def mutant_diffs(work: Path, names: list[str]) -> dict[str, tuple[str, str]]:
    """name -> (removed, added) lines of each mutant, stripped (several lines joined by ' / '). One process
    for all (mutmut's own diff function); ``mutmut show`` per mutant if that internal moved."""
    env = {**os.environ, "PYTHONPATH": str(work)}
    try:
        texts = json.loads(subprocess.run([sys.executable, "-c", DIFFS_SCRIPT], cwd=work, env=env, check=True,
                                          input=json.dumps(names), capture_output=True, text=True).stdout)
    except subprocess.CalledProcessError:
        texts = {name: subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=work, env=env, check=True,
                                      capture_output=True, text=True).stdout for name in names}

    def changed(text: str, sign: str) -> str:
        return " / ".join(line[1:].strip() for line in text.splitlines()
                          if line.startswith(sign) and not line.startswith(sign * 3))

    return {name: (changed(text, "-"), changed(text, "+")) for name, text in texts.items()}


def module_of(name: str, modules: list[str]) -> str:
    """'theory.advantages.x_group_std__mutmut_3' -> 'theory/advantages.py'."""
    for module in modules:
        if name.startswith(module[:-3].replace("/", ".") + "."):
            return module
    raise ValueError(f"mutant {name!r} belongs to none of {modules}")


def function_of(name: str) -> str:
    return name.rsplit("__mutmut_", 1)[0]


def equivalent_reason(name: str, added: str) -> str | None:
    for eq in EQUIVALENT:
        if fnmatch.fnmatchcase(function_of(name), eq.function) and eq.added in added:
            return eq.reason
    return None


def git_commit(repo: Path) -> str:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    return head + ("+uncommitted changes" if dirty.strip() else "")


def summarise(statuses: dict[str, str], diffs: dict[str, tuple[str, str]], modules: list[str]) -> dict:
    """Counts per module and in total. Score = (killed + timeouts) / (checked - equivalent); mutants a stopped
    run never reached are counted as ``not_checked`` and left out of the score."""
    keys = ("mutants", "not_checked", "killed", "timeouts", "survived", "equivalent", "not_covered", "other")
    per_module: dict[str, dict[str, int | float | None]] = {}
    for module in modules:
        names = [n for n in statuses if module_of(n, modules) == module]
        count = {s: sum(statuses[n] == s for n in names)
                 for s in ("killed", "survived", "timeout", "no tests", "not checked")}
        equivalent = sum(statuses[n] in ("survived", "no tests") and equivalent_reason(n, diffs[n][1]) is not None
                         for n in names)
        row = {
            "mutants": len(names), "not_checked": count["not checked"], "killed": count["killed"],
            "timeouts": count["timeout"], "survived": count["survived"] + count["no tests"] - equivalent,
            "equivalent": equivalent, "not_covered": count["no tests"], "other": len(names) - sum(count.values()),
        }
        per_module[module] = {**row, "score": _score(row)}
    total = {k: sum(m[k] for m in per_module.values()) for k in keys}
    return {"total": {**total, "score": _score(total)}, "by_module": per_module}


def _score(row: dict) -> float | None:
    judged = row["mutants"] - row["not_checked"] - row["equivalent"]
    return round((row["killed"] + row["timeouts"]) / judged, 4) if judged else None


def group_result(run: dict, group: str, statuses: dict[str, str], diffs: dict[str, tuple[str, str]]) -> dict:
    """One group's entry of summary.json: what the run was (command, date, commit, ...), its counts, and each
    mutant that was not killed (name, status, removed and added line)."""
    modules = [m for m in run["modules"] if m in GROUPS[group].modules]
    mine = {n: s for n, s in statuses.items() if module_of(n, run["modules"]) in modules}
    survivors = [{"name": n, "status": s, "removed": diffs[n][0], "added": diffs[n][1]}
                 for n, s in mine.items() if n in diffs]
    return {**run, "modules": modules, **summarise(mine, diffs, modules), "survivors": survivors}


def merged(previous: dict, groups: dict[str, dict]) -> dict:
    """summary.json: the groups of ``previous`` that this run did not touch, then this run's ``groups``, and
    the counts over all of them (each group keeps its own command, date and commit)."""
    entries = {**previous.get("groups", {}), **groups}
    entries = {g: entries[g] for g in GROUPS if g in entries}
    keys = ("mutants", "not_checked", "killed", "timeouts", "survived", "equivalent", "not_covered", "other")
    total = {k: sum(e["total"][k] for e in entries.values()) for k in keys}
    return {"total": {**total, "score": _score(total)}, "groups": entries}


def survivors_markdown(summary: dict) -> str:
    """survivors.md: per group, its run and score, then each surviving mutant as a diff line with the reason
    when it is listed in ``EQUIVALENT``."""
    total = summary["total"]
    lines = ["# Surviving mutants", "", f"All groups: score {total['score']}, {total['killed']} killed, "
             f"{total['timeouts']} timeouts, {total['survived']} survived, {total['equivalent']} equivalent of "
             f"{total['mutants']} mutants.", ""]
    for group, entry in summary["groups"].items():
        row = entry["total"]
        lines += [f"## Group {group}", "", f"`{entry['command']}` on {entry['date']} ({entry['commit']}), "
                  f"{entry['seconds'] / 60:.0f} min: score {row['score']}, {row['killed']} killed, {row['timeouts']} "
                  f"timeouts, {row['survived']} survived, {row['equivalent']} equivalent (explained below) of "
                  f"{row['mutants']} mutants" + (f", {row['not_checked']} not reached (run stopped)."
                                                 if row["not_checked"] else "."), ""]
        for module in entry["modules"]:
            mutants = [m for m in entry["survivors"] if module_of(m["name"], entry["modules"]) == module]
            if not mutants:
                continue
            lines += [f"### {module}", ""]
            for m in mutants:
                reason = equivalent_reason(m["name"], m["added"])
                tag = f"equivalent: {reason}" if reason else f"**{m['status']}**, no test kills it"
                lines += [f"- `{m['name']}` ({tag})", "  ```diff", f"  - {m['removed']}", f"  + {m['added']}",
                          "  ```"]
            lines.append("")
    return "\n".join(lines)


def report(work: Path, out: Path) -> dict:
    """Merge the run in ``work`` (its run.json holds what the run was) into ``out``/summary.json, group by
    group, and write ``out``/survivors.md from it; a run of one group leaves the others' results as they were."""
    run = json.loads((work / "run.json").read_text())
    groups = run_groups(run)
    run.pop("groups", None)
    statuses = read_results(work)
    diffs = mutant_diffs(work, [n for n, s in statuses.items() if s not in ("killed", "timeout", "not checked")])
    out.mkdir(parents=True, exist_ok=True)
    path = out / "summary.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    summary = merged(previous, {g: group_result(run, g, statuses, diffs) for g in groups})
    path.write_text(json.dumps(summary, indent=2) + "\n")
    (out / "survivors.md").write_text(survivors_markdown(summary))
    return summary


def run_groups(run: dict) -> list[str]:
    """The groups of a run (run.json of runs before groups were recorded: the groups of its modules)."""
    return run.get("groups") or [g for g in GROUPS if set(GROUPS[g].modules) & set(run["modules"])]


def rerun(work: Path, names: list[str], max_children: int) -> None:
    """Run ``names`` again in ``work`` with the repo's current test files (after adding tests that should
    kill them); the rest of the run stands.

    A test file added since the run joins the test selection; mutmut then resets every result and records
    which tests call which function again, so the results of the mutants not run again are put back after."""
    for rel in _mutant_files(REPO):
        if rel.startswith("tests/"):
            for base in (work, work / "mutants"):
                (base / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / rel, base / rel)
    run = json.loads((work / "run.json").read_text())
    pyproject = work / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text[:text.index("[tool.mutmut]")] + mutmut_section(run_groups(run), run["modules"], work))
    before = {path: json.loads(path.read_text()) for path in (work / "mutants").rglob("*.meta")}
    env = {**os.environ, "PYTHONPATH": str(work)}
    with open(work / "mutmut.log", "a") as log:
        subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *names],
                       cwd=work, env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
    chosen = set(names)
    for path, old in before.items():
        meta = json.loads(path.read_text())
        meta["exit_code_by_key"].update({k: c for k, c in old["exit_code_by_key"].items() if k not in chosen})
        path.write_text(json.dumps(meta))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", nargs="+", choices=sorted(GROUPS), default=list(DEFAULT_GROUPS))
    parser.add_argument("--only", nargs="+", metavar="MODULE", help="mutate only these modules of the groups, "
                        "e.g. theory/advantages.py (a quick check after editing one module)")
    parser.add_argument("--max-children", type=int, default=2, help="mutants run in parallel (default 2)")
    parser.add_argument("--out", type=Path, help="folder of summary.json and survivors.md (default "
                        "results/mutation; with --only a temporary folder, so a partial run never replaces it)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy (its path is printed)")
    parser.add_argument("--report", type=Path, metavar="WORKDIR", help="no new run: write the report of a kept "
                        "run again (after explaining survivors in EQUIVALENT)")
    parser.add_argument("--rerun-survivors", action="store_true", help="with --report: first run that run's "
                        "survivors not explained in EQUIVALENT again against the repo's current tests")
    args = parser.parse_args(argv)
    if args.max_children < 1:
        parser.error(f"--max-children={args.max_children} must be >= 1")
    modules = [m for g in args.groups for m in GROUPS[g].modules]
    if args.only:
        unknown = sorted(set(args.only) - set(modules))
        if unknown:
            parser.error(f"--only {' '.join(unknown)}: not a module of --groups {' '.join(args.groups)}; "
                         f"choose among {', '.join(modules)}")
        modules = [m for m in modules if m in args.only]
    out = args.out or (Path(tempfile.gettempdir()) / "grpo-verify-mutation" if args.only else OUT)
    os.nice(10)

    if args.report:
        if args.rerun_survivors:
            started = time.monotonic()
            statuses = read_results(args.report)
            survived = [n for n, s in statuses.items() if s in ("survived", "no tests")]
            diffs = mutant_diffs(args.report, survived)
            survivors = [n for n in survived if equivalent_reason(n, diffs[n][1]) is None]  # explained: not again
            rerun(args.report, survivors, args.max_children)
            run = json.loads((args.report / "run.json").read_text())
            run["rerun"] = (f"{len(survivors)} unexplained survivors run again with the tests of {git_commit(REPO)} on "
                            f"{dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}, "
                            f"{(time.monotonic() - started) / 60:.1f} min")
            (args.report / "run.json").write_text(json.dumps(run, indent=2))
        print(json.dumps(report(args.report, out)["total"]), f"see {out}")
        return 0

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="grpo-verify-mutation-"))
    try:
        copy_tree(REPO, work)
        with open(work / "pyproject.toml", "a") as f:
            f.write("\n" + mutmut_section(args.groups, modules, work))
        commit = git_commit(REPO)
        run_mutmut(work, args.max_children)
        from importlib.metadata import version

        run = {
            "command": "python tools/mutation.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "groups": args.groups,
            "tool": f"mutmut {version('mutmut')}",
            "modules": modules,
            "tests": sorted({t for g in args.groups for t in GROUPS[g].tests}),
            "deselected": [t for g in args.groups for t in GROUPS[g].deselect],
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
                       f"{platform.release()}, Python {platform.python_version()}, max_children={args.max_children}",
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "commit": commit,
            "seconds": round(time.monotonic() - started, 1),
        }
        (work / "run.json").write_text(json.dumps(run, indent=2))
        summary = report(work, out)
        print(json.dumps(summary["total"]), f"in {(time.monotonic() - started) / 60:.1f} min; see {out}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
