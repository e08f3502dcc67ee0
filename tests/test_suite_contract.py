"""The suite contract, checked over every suite registered in the "audit.suites" entry-point group.

Each suite: presets exist and their params pass the declared bounds; every numeric setting declares bounds;
every key of the default policy names a measurement the suite can emit; what it reads exists and runs first.
Bad settings are refused in one place (after the user's overrides) with the suite, the key and the range.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tomllib
import typing
from importlib import resources
from pathlib import Path

import pytest

from audit import registry
from audit.errors import AuditInputError
from audit.registry import apply_overrides, run_order
from audit.suite import PRESETS, Output, SuiteContext, field_bounds, validate_params

SUITES = registry.available()


def _suite(name: str):
    return SUITES[name].load()


def _policy_keys() -> list[tuple[str, str, str]]:
    """(policy file, suite, metric) for every key of every bundled default policy."""
    keys = []
    for entry in resources.files("audit.policy").iterdir():
        if entry.name.endswith(".toml"):
            for key in tomllib.loads(entry.read_text()):
                suite, _, metric = key.partition(".")
                keys.append((entry.name, suite, metric))
    return keys


@pytest.mark.parametrize("name", list(SUITES))
def test_every_preset_exists_and_its_params_validate(name: str) -> None:
    suite = _suite(name)
    assert dataclasses.is_dataclass(suite.Params) and suite.Params.__dataclass_params__.frozen
    for preset in PRESETS:
        params = suite.params_for(preset)
        assert isinstance(params, suite.Params)
        assert validate_params(name, params) is params
        assert apply_overrides(name, params, {}) == params


@pytest.mark.parametrize("name", list(SUITES))
def test_every_numeric_setting_declares_its_bounds(name: str) -> None:
    params_type = _suite(name).Params
    hints = typing.get_type_hints(params_type)
    bounds = field_bounds(params_type)
    numeric = [f.name for f in dataclasses.fields(params_type)
               if any(t in (int, float) for t in (hints[f.name], *typing.get_args(hints[f.name])))]
    assert [n for n in numeric if n not in bounds] == []


@pytest.mark.parametrize("name", list(SUITES))
def test_every_numeric_bound_is_enforced(name: str) -> None:
    """Just past each declared minimum is refused, naming the suite, the key and the range."""
    defaults = _suite(name).params_for("full")
    for key, bounds in field_bounds(type(defaults)).items():
        if bounds.min is None or isinstance(getattr(defaults, key), tuple):
            continue
        bad = bounds.min - 1 if isinstance(getattr(defaults, key), int) else bounds.min - 0.5
        with pytest.raises(AuditInputError, match=rf"^{name}\.{key} = .* (at least|between) "):
            validate_params(name, dataclasses.replace(defaults, **{key: bad}))


@pytest.mark.parametrize(("policy", "suite", "metric"), _policy_keys())
def test_every_default_policy_key_names_a_measurement_the_suite_emits(policy: str, suite: str, metric: str) -> None:
    assert suite in SUITES, f"{policy}: {suite}.{metric} names no registered suite"
    emits = getattr(_suite(suite), "emits", ())
    assert any(Output(suite, pattern).matches(metric) for pattern in emits), (
        f"{policy}: {suite}.{metric} matches none of {suite}'s declared measurements {emits}")


@pytest.mark.parametrize("name", list(SUITES))
def test_every_read_names_a_declared_output_of_a_suite_that_runs_first(name: str) -> None:
    order = list(SUITES)
    for output in getattr(_suite(name), "reads", ()):
        assert output.suite in SUITES, f"{name} reads {output} from a suite that is not registered"
        provider = _suite(output.suite)
        declared = output.name in getattr(provider, "provides", ()) or output.name in getattr(provider, "emits", ())
        assert declared, f"{name} reads {output}, which {output.suite} does not declare"
        assert order.index(output.suite) < order.index(name)


def test_explainability_reads_the_fairness_proxies_through_its_declaration() -> None:
    reads = _suite("explainability").reads
    assert Output("fairness", "proxies") in reads and "proxies" in _suite("fairness").provides


def test_run_order_follows_reads_then_the_default_order() -> None:
    fairness_proxies = (Output("fairness", "proxies"),)
    reads = {"explainability": fairness_proxies, "zeta": (), "accuracy": (), "fairness": (), "alpha": (),
             "remedies": (Output("zeta", "x"), Output("accuracy", "accuracy")), "gone": (Output("absent", "t"),)}
    order = run_order(reads)
    assert order == ["accuracy", "fairness", "explainability", "alpha", "gone", "zeta", "remedies"]
    # A new suite that reads the explainability output is placed after it even though it sorts first by name.
    assert run_order({**reads, "aaa": (Output("explainability", "x"),)}).index("aaa") > order.index("explainability")


def test_a_cycle_of_reads_is_a_clear_input_error() -> None:
    with pytest.raises(AuditInputError, match="cycle"):
        run_order({"a": (Output("b", "t"),), "b": (Output("a", "t"),), "c": ()})


def test_reading_an_undeclared_output_is_refused() -> None:
    ctx = SuiteContext(model=None, data=None, seed=0, preset="full", cache_dir=Path("."),  # type: ignore[arg-type]
                       reads=frozenset({Output("fairness", "proxies")}))
    assert ctx.table(Output("fairness", "proxies")) is None  # fairness did not run: nothing to read
    with pytest.raises(RuntimeError, match="not declared"):
        ctx.table(Output("privacy", "attacks"))


@pytest.mark.parametrize(("suite", "overrides", "message"), [
    ("accuracy", {"bootstrap_resamples": 0}, r"accuracy\.bootstrap_resamples = 0 .*at least 1"),
    ("accuracy", {"bootstrap_resamples": True}, r"must be int, got True"),
    ("fairness", {"proxy_min_auroc": 1.5}, r"fairness\.proxy_min_auroc = 1\.5 .*between 0 and 1"),
    ("fairness", {"attributes": ["sex", 5]}, r"must be str, got 5"),
    ("robustness", {"sweep": "fast"}, r"robustness\.sweep = 'fast' .*one of 'full', 'quick'"),
    ("robustness", {"eps_linf": [0.1, -0.1]}, r"robustness\.eps_linf .*each value must be at least 0; -0\.1"),
    ("privacy", {"shadow_models": 6, "shadow_epochs": 0}, r"privacy\.shadow_epochs = 0 .*at least 1"),
    ("privacy", {"shadow_models": 5}, r"privacy: shadow_models = 5; use 0"),
    ("efficiency", {"min_repeats": 9, "max_repeats": 3}, r"efficiency: max_repeats = 3 must be at least"),
])
def test_bad_settings_are_refused_after_overrides(suite: str, overrides: dict, message: str) -> None:
    with pytest.raises(AuditInputError, match=message):
        apply_overrides(suite, _suite(suite).params_for("full"), overrides)


def test_good_overrides_are_coerced() -> None:
    privacy = apply_overrides("privacy", _suite("privacy").params_for("quick"), {"shadow_epochs": 3})
    assert privacy.shadow_epochs == 3
    fairness = apply_overrides("fairness", _suite("fairness").params_for("full"), {"proxy_min_auroc": 1})
    assert fairness.proxy_min_auroc == 1.0 and isinstance(fairness.proxy_min_auroc, float)


def test_bad_setting_exits_2_before_the_model_loads(tmp_path: Path) -> None:
    """`bootstrap_resamples = 0` for accuracy used to end in exit 3 with a traceback."""
    (tmp_path / "bad.toml").write_text("[suites.accuracy]\nbootstrap_resamples = 0\n")
    proc = subprocess.run([sys.executable, "-m", "audit.cli", "run", "--suite", "accuracy", "--model", "adult-mlp",
                           "--config", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "out")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = " ".join(proc.stderr.split())  # the terminal wraps long lines
    assert "accuracy.bootstrap_resamples = 0" in message and "at least 1" in message and "Traceback" not in message


def test_what_accuracy_and_fairness_emit_is_declared() -> None:
    from audit.testing import synthetic_tabular, tabular_model

    data = synthetic_tabular(n=600, seed=1)
    model = tabular_model(data, seed=1, epochs=5)
    ctx = SuiteContext(model=model, data=data, seed=0, preset="quick", cache_dir=Path("."))
    for name, overrides in (("accuracy", {"bootstrap_resamples": 20}), ("fairness", {"resamples": 20})):
        suite = _suite(name)
        output = suite.run(ctx, dataclasses.replace(suite.params_for("quick"), mitigation=True, **overrides)
                           if name == "fairness" else dataclasses.replace(suite.params_for("quick"), **overrides))
        names = {m.name for m in output.measurements}
        assert names
        assert [n for n in names if not any(Output(name, p).matches(n) for p in suite.emits)] == []
