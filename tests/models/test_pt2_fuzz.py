"""Fuzz model files: whatever a file holds, loading ends in a model or in AuditInputError (exit 2), never a crash."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pt2_crafting import CONSTANTS_CONFIG, MODEL_JSON, WEIGHTS_CONFIG, export_plain, rewrite

from audit.errors import AuditInputError
from audit.models.architectures import build
from audit.models.loaders import load_user_model
from audit.testing import synthetic_tabular

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 10**20) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    data = synthetic_tabular(n=80)
    root = tmp_path_factory.mktemp("fuzz")
    return data, root, export_plain(root / "base.pt2", width=data.test.x.shape[1])


def _paths(value, prefix=()):
    """Every location in a JSON document, as a tuple of keys and indices."""
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _replace(document, path, new):
    if not path:
        return new
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return document


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(member=st.sampled_from([MODEL_JSON, WEIGHTS_CONFIG, CONSTANTS_CONFIG]), choice=st.integers(0, 10**6),
       new=JSON_VALUES)
def test_any_json_edit_is_loaded_or_refused(setup, member, choice, new):
    data, root, base = setup

    def edit(content):
        document = json.loads(content[member])
        paths = list(_paths(document))
        content[member] = json.dumps(_replace(document, paths[choice % len(paths)], new)).encode()
    path = rewrite(base, root / "fuzzed.pt2", members=edit)
    try:
        load_user_model(path, data=data, device="cpu")
    except AuditInputError:
        pass


@pytest.fixture(scope="module")
def state_dict_file(setup):
    data, root, _ = setup
    path = root / "state.pt"
    torch.save(build("tabular-mlp", in_features=data.test.x.shape[1], hidden=[4]).state_dict(), path)
    return path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from([".pt2", ".pt"]), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                               min_size=1, max_size=8),
       cut=st.none() | st.integers(0, 10**6))
def test_damaged_bytes_are_loaded_or_refused(setup, state_dict_file, suffix, flips, cut):
    """Flipped bytes and truncation anywhere in a real .pt2 or state dict (found crashes in both readers)."""
    data, root, base = setup
    raw = bytearray((base if suffix == ".pt2" else state_dict_file).read_bytes())
    for position, value in flips:
        raw[position % len(raw)] = value
    path = root / f"damaged{suffix}"
    path.write_bytes(bytes(raw if cut is None else raw[: cut % len(raw)]))
    try:
        load_user_model(path, data=data, device="cpu", arch="tabular-mlp",
                        arch_kwargs={"in_features": data.test.x.shape[1], "hidden": [4]})
    except AuditInputError:
        pass
