"""``grpo-verify export``: TT-9's arms as TRL GRPOConfig options and verl Hydra overrides, each accepted by the
engine's own config code (TRL: GRPOConfig and TrlParser; verl: its generated trainer config composed in
OmegaConf struct mode, where an unknown key is an error).

verl is never installed: its wheel (no dependencies, 1.7 MB) is fetched once with ``pip download --no-deps``
into a cache folder (``$GRPO_VERIFY_CACHE`` or ~/.cache/grpo-verify) and read as a zip; the verl tests skip
only when it is not cached and cannot be downloaded (offline). The TRL tests skip without trl outside CI
and fail in CI, as the other TRL cross-checks do.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from gpu_runs.engines.arms import ARMS
from gpu_runs.engines.trl_export import SCRIPT_KEYS, trl_config, trl_script, trl_yaml
from gpu_runs.engines.verl_export import RS_CAVEAT, verl_launch, verl_overrides
from grpo_verify.cli import main

VERL_VERSION = "0.9.1"
VERL_CONFIG = "verl/trainer/config/_generated_ppo_trainer.yaml"
TRL_ARMS = [key for key, arm in ARMS.items() if not arm.resample_silent]


def verl_wheel() -> Path:
    """verl's wheel from the cache, downloaded there (no dependencies) when missing; skip when offline."""
    cache = Path(os.environ.get("GRPO_VERIFY_CACHE", Path.home() / ".cache" / "grpo-verify")) / "wheels"
    wheel = cache / f"verl-{VERL_VERSION}-py3-none-any.whl"
    if not wheel.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", f"verl=={VERL_VERSION}",
                                 "-d", str(cache), "-q"], capture_output=True, text=True, timeout=300, check=False)
        if result.returncode != 0 or not wheel.is_file():
            pytest.skip(f"verl {VERL_VERSION}'s wheel is not in {cache} and `pip download --no-deps "
                        f"verl=={VERL_VERSION}` failed (offline?): {result.stderr.strip()[-300:]}")
    return wheel


def verl_source(path: str) -> str:
    return zipfile.ZipFile(verl_wheel()).read(path).decode()


def require_trl() -> None:
    if importlib.util.find_spec("trl") is None:
        if "CI" in os.environ:
            pytest.fail("CI is set: the TRL export checks must run; install the extra: pip install -e .[peers]")
        pytest.skip("trl is not installed (pip install -e .[peers])")


@pytest.mark.parametrize("arm", TRL_ARMS)
def test_trl_config_is_accepted_by_grpoconfig(arm: str, tmp_path: Path) -> None:
    """GRPOConfig(**cfg) builds; use_cpu/bf16 are added only because this machine has no GPU (TRL's default
    bf16 needs one). The batch it builds is the arm's: G, and B = prompts x G per optimizer step."""
    require_trl()
    from trl import GRPOConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = GRPOConfig(**trl_config(arm, output_dir=str(tmp_path)), use_cpu=True, bf16=False)
    spec = ARMS[arm]
    assert config.num_generations == spec.group_size
    assert config.generation_batch_size == spec.rollouts_per_minibatch
    assert config.per_device_train_batch_size * config.gradient_accumulation_steps == spec.rollouts_per_minibatch
    assert (config.learning_rate, config.warmup_steps, config.num_train_epochs) == (spec.lr, 10, 10)
    assert config.lr_scheduler_type.value == "constant_with_warmup" and config.log_completions


def test_trl_yaml_is_read_by_trls_own_command_parser(tmp_path: Path) -> None:
    """`trl grpo --config FILE` parses it into the same options (floats stay floats: YAML 1.1 reads 8e-06 as a
    string, so the file writes 8.0e-06)."""
    require_trl()
    from trl import DatasetMixtureConfig, GRPOConfig, ModelConfig, TrlParser
    from trl.scripts.grpo import GRPOScriptArguments

    path = tmp_path / "grpo2.yaml"
    path.write_text(trl_yaml("grpo2", model="some/model", dataset="some/dataset", output_dir="runs/grpo2",
                             num_processes=4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        script, config, model, _ = TrlParser((GRPOScriptArguments, GRPOConfig, ModelConfig, DatasetMixtureConfig)) \
            .parse_args_and_config(["--config", str(path), "--use_cpu", "true", "--bf16", "false"])
    assert (model.model_name_or_path, script.dataset_name, script.reward_funcs) == \
        ("some/model", "some/dataset", ["accuracy_reward"])
    for key, value in trl_config("grpo2", output_dir="runs/grpo2", num_processes=4).items():
        parsed = getattr(config, key)  # enums compare by value; report_to "none" becomes []
        assert getattr(parsed, "value", parsed) == ([] if key == "report_to" else value), key
    assert config.per_device_train_batch_size * config.gradient_accumulation_steps * 4 == 512


def test_trl_script_builds_the_exported_config() -> None:
    """The script's GRPOConfig(...) call holds exactly trl_config's options (read from its syntax tree)."""
    script = trl_script("grpo16", model="m", dataset="d", output_dir="runs/grpo16")
    call = next(node for node in ast.walk(ast.parse(script))
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "GRPOConfig")
    options = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    assert options == trl_config("grpo16", output_dir="runs/grpo16")
    assert "trainer.save_state()" in script and set(SCRIPT_KEYS) >= {"model_name_or_path"}


def test_grpo2_rs_cannot_be_expressed_for_trl(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ValueError, match=r"cannot be expressed for TRL 1\.16"):
        trl_config("grpo2-rs", output_dir="x")
    assert main(["export", "trl", "--arm", "grpo2-rs", "--model", "m", "--dataset", "d"]) == 2
    assert "cannot resample silent groups" in capsys.readouterr().err


def test_trl_batch_split_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="num_processes=3 must divide the arm's 512 rollouts"):
        trl_config("grpo2", output_dir="x", num_processes=3)
    with pytest.raises(ValueError, match=r"per_device_batch=24 must divide 512"):
        trl_config("grpo2", output_dir="x", per_device_batch=24)


@pytest.fixture(scope="module")
def verl_config():
    from omegaconf import OmegaConf

    config = OmegaConf.create(verl_source(VERL_CONFIG))
    OmegaConf.set_struct(config, True)
    return config


@pytest.mark.parametrize("arm", list(ARMS))
def test_verl_overrides_compose_onto_verls_generated_config(arm: str, verl_config) -> None:
    """Every key exists in verl's generated config (struct mode: an unknown key raises) and lands as set."""
    from omegaconf import OmegaConf

    overrides = verl_overrides(arm, model="m", train_files="train.parquet", run_dir="runs/x")
    merged = OmegaConf.merge(verl_config, OmegaConf.from_dotlist(overrides))
    spec = ARMS[arm]
    actor = merged.actor_rollout_ref.actor
    assert (merged.algorithm.adv_estimator, merged.algorithm.norm_adv_by_std_in_grpo) == ("grpo", True)
    assert (merged.actor_rollout_ref.rollout.n, actor.ppo_mini_batch_size, actor.optim.lr) == \
        (spec.group_size, spec.prompts_per_minibatch, spec.lr)
    assert (actor.optim.lr_scheduler_type, actor.optim.lr_warmup_steps, merged.trainer.total_epochs) == \
        ("constant", 10, 10)
    assert list(merged.trainer.logger) == ["console", "file"]
    assert merged.trainer.rollout_data_dir == "runs/x/rollouts"
    assert merged.algorithm.filter_groups.enable is spec.resample_silent


def test_verl_struct_mode_rejects_an_unknown_key(verl_config) -> None:
    """The check bites: a misspelt key is an error, not a silently added one."""
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigKeyError

    with pytest.raises(ConfigKeyError):
        OmegaConf.merge(verl_config, OmegaConf.from_dotlist(["actor_rollout_ref.rollout.num_generations=2"]))


def test_verl_rs_caveat_matches_verls_source() -> None:
    """2-GRPO+RS uses DAPO's group filter with the canonical 'reward' metric, read by verl's V1 trainer, whose
    built-in replay buffer ignores max_num_gen_batches (so TT's rollout cap is not expressible)."""
    trainer = verl_source("verl/trainer/ppo/v1/trainer_base.py")
    assert 'FILTER_GROUPS_REWARD_METRIC = "reward"' in verl_source("verl/trainer/ppo/v1/replay_buffer.py")
    assert "filter_groups" in trainer and "is ignored by the built-in V1 ReplayBuffer" in trainer
    assert "use_v1: true" in verl_source(VERL_CONFIG)  # the V1 trainer is verl's default
    assert RS_CAVEAT in verl_launch("grpo2-rs", model="m", train_files="t.parquet", run_dir="r")


def test_verl_grpo_estimator_is_registered_under_the_exported_name() -> None:
    """core_algos registers the group-normalised estimator as AdvantageEstimator.GRPO = 'grpo', scaled by the
    std when norm_adv_by_std_in_grpo (the exported setting)."""
    source = verl_source("verl/trainer/ppo/core_algos.py")
    assert 'GRPO = "grpo"' in source and "@register_adv_est(AdvantageEstimator.GRPO)" in source
    assert "if norm_adv_by_std_in_grpo:" in source


def test_export_command_writes_and_prints(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "grpo16.yaml"
    assert main(["export", "trl", "--arm", "grpo16", "--model", "m", "--dataset", "d", "--out", str(out)]) == 0
    assert "num_generations: 16" in out.read_text()
    assert main(["export", "verl", "--arm", "grpo2", "--model", "m", "--dataset", "train.parquet"]) == 0
    printed = capsys.readouterr().out
    assert "actor_rollout_ref.rollout.n=2" in printed and "python3 -m verl.trainer.main_ppo" in printed
    assert main(["export", "verl", "--arm", "grpo2", "--model", "m", "--dataset", "t", "--format", "python"]) == 2
    assert "--format, --per-device-batch and --num-processes are TRL options" in capsys.readouterr().err
