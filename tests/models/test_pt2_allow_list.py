"""Hostile .pt2 archives are refused before torch reads them, and none of their payloads runs.

Each archive is a real torch.export archive rewritten as an attacker would. Every test checks that the payload
never ran (its marker file is absent) and that torch.export.load was never called, not only the error.
"""

from __future__ import annotations

import json
import zipfile

import pytest
import torch
from pt2_crafting import (
    CONSTANTS_CONFIG,
    WEIGHTS_CONFIG,
    evil_pickle,
    export_plain,
    payload_code,
    pickled_entry,
    rewrite,
    set_constants,
)
from torch import nn

from audit.errors import AuditInputError
from audit.models.loaders import load_user_model
from audit.models.pt2_graph import is_safe_expression
from audit.testing import synthetic_tabular


@pytest.fixture(scope="module")
def data():
    return synthetic_tabular(n=120)


@pytest.fixture(scope="module")
def base(tmp_path_factory, data):
    return export_plain(tmp_path_factory.mktemp("pt2") / "base.pt2", width=data.test.x.shape[1])


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "PAYLOAD_RAN"


@pytest.fixture
def torch_never_loads(monkeypatch):
    """Fail if the file reaches torch.export.load: refusals must happen on our side first."""
    def called(*args, **kwargs):
        raise AssertionError("torch.export.load was reached")
    monkeypatch.setattr(torch.export, "load", called)


def _refused(path, data, marker, match, **kwargs):
    with pytest.raises(AuditInputError, match=match):
        load_user_model(path, data=data, device="cpu", **kwargs)
    assert not marker.exists(), "the payload ran"


def _guard_code(marker):
    return lambda program: program.__setitem__("guards_code", [payload_code(marker) + " > 0"])


def test_guard_code_is_refused_and_never_run(tmp_path, base, data, marker, torch_never_loads):
    evil = rewrite(base, tmp_path / "guards.pt2", program=_guard_code(marker))
    _refused(evil, data, marker, "guard code")


def test_guard_code_is_refused_even_when_unsafe_loading_is_allowed(tmp_path, base, data, marker, torch_never_loads):
    evil = rewrite(base, tmp_path / "guards.pt2", program=_guard_code(marker))
    _refused(evil, data, marker, "guard code", allow_unsafe_load=True)


def test_path_name_bypass_of_the_old_basename_check(tmp_path, base, data, marker, torch_never_loads):
    """The issue's bypass: path_name 'opaque_obj_0/x' names a member whose basename is innocent."""
    def members(content):
        content["data/constants/opaque_obj_0/x"] = evil_pickle(marker)
        set_constants(content, {"evil": pickled_entry("opaque_obj_0/x")})
    _refused(rewrite(base, tmp_path / "opaque.pt2", members=members), data, marker, "opaque_obj_0/x")


@pytest.mark.parametrize("folder, config, path_name", [
    ("data/constants/", CONSTANTS_CONFIG, "tensor_0"),  # torch.load(weights_only=False) of a constant
    ("data/weights/", WEIGHTS_CONFIG, "weight_9"),  # the same for a weight
])
def test_use_pickle_entries_are_refused(tmp_path, base, data, marker, torch_never_loads, folder, config, path_name):
    def members(content):
        content[folder + path_name] = evil_pickle(marker)
        entries = json.loads(content[config])["config"]
        entries["evil"] = pickled_entry(path_name)
        content[config] = json.dumps({"config": entries}).encode()
    _refused(rewrite(base, tmp_path / "pickled.pt2", members=members), data, marker, "use_pickle")


@pytest.mark.parametrize("member", ["data/constants/custom_obj_0", "data/constants/opaque_obj_0"])
def test_custom_and_opaque_objects_are_refused(tmp_path, base, data, marker, torch_never_loads, member):
    def members(content):
        content[member] = evil_pickle(marker)
        set_constants(content, {"obj": pickled_entry(member.rsplit("/", 1)[1])})
    _refused(rewrite(base, tmp_path / "objects.pt2", members=members), data, marker, "does not write")


def test_shape_expression_is_never_evaluated(tmp_path, base, data, marker, torch_never_loads):
    """sympify() evals its string: an expr_str is Python code to torch."""
    def program(model):
        for meta in model["graph_module"]["graph"]["tensor_values"].values():
            for size in meta["sizes"]:
                if "as_expr" in size:
                    size["as_expr"]["expr_str"] = f"__import__('builtins').exec({payload_code(marker)!r})"
    _refused(rewrite(base, tmp_path / "sympy.pt2", program=program), data, marker, "shape expression")


def test_pytree_context_cannot_import_a_module(tmp_path, base, data, marker, torch_never_loads, monkeypatch):
    """pytree's enum hook imports the module a treespec context names (here one beside the audited repo)."""
    module_source = f"{payload_code(marker)}\nimport enum\nclass E(enum.Enum):\n    A = 1\n"
    (tmp_path / "evil_enum_module.py").write_text(module_source)
    monkeypatch.syspath_prepend(str(tmp_path))
    context = json.dumps([{"__enum__": True, "fqn": "evil_enum_module:E", "name": "A"}])
    leaf = {"type": None, "context": None, "children_spec": []}

    def program(model):
        signature = model["graph_module"]["module_call_graph"][0]["signature"]
        signature["in_spec"] = json.dumps([1, {"type": "builtins.dict", "context": context, "children_spec": [leaf]}])
    _refused(rewrite(base, tmp_path / "enum.pt2", program=program), data, marker, "input/output structure")


@pytest.mark.parametrize("target", ["torch.os.system", "builtins.exec", "torch.ops.load_library",
                                    "torch.ops.higher_order.cond", "#custom.op", "_operator.methodcaller",
                                    "torch.ops.aten.save.default", "torch.ops.aten._print.default"])
def test_graph_targets_outside_aten_are_refused(tmp_path, base, data, marker, torch_never_loads, target):
    def program(model):
        model["graph_module"]["graph"]["nodes"][0]["target"] = target
    _refused(rewrite(base, tmp_path / "target.pt2", program=program), data, marker,
             "not an ATen operator|tensor arithmetic does not take")


def _tensor_meta(n: int) -> dict:
    return {"dtype": 1, "sizes": [{"as_int": n}], "requires_grad": False, "device": {"type": "cpu", "index": None},
            "strides": [{"as_int": 1}], "storage_offset": {"as_int": 0}, "layout": 7}


def test_aten_ops_that_touch_files_are_refused(tmp_path, base, data, marker, torch_never_loads):
    """aten.from_file(shared=True) maps a file into a tensor; an in-place fill then overwrites the file."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"original content")

    def program(model):
        graph = model["graph_module"]["graph"]
        graph["tensor_values"].update(mapped=_tensor_meta(8), filled=_tensor_meta(8))
        graph["nodes"][0:0] = [
            {"target": "torch.ops.aten.from_file.default", "name": "mapped", "metadata": {},
             "inputs": [{"name": "filename", "arg": {"as_string": str(victim)}, "kind": 1},
                        {"name": "shared", "arg": {"as_bool": True}, "kind": 1},
                        {"name": "size", "arg": {"as_int": 8}, "kind": 1},
                        {"name": "dtype", "arg": {"as_scalar_type": 1}, "kind": 2}],
             "outputs": [{"as_tensor": {"name": "mapped"}}]},
            {"target": "torch.ops.aten.fill_.Scalar", "name": "filled", "metadata": {},
             "inputs": [{"name": "self", "arg": {"as_tensor": {"name": "mapped"}}, "kind": 1},
                        {"name": "value", "arg": {"as_int": 88}, "kind": 1}],
             "outputs": [{"as_tensor": {"name": "filled"}}]},
        ]
    _refused(rewrite(base, tmp_path / "from_file.pt2", program=program), data, marker, "filename: str")
    assert victim.read_bytes() == b"original content"


def test_sample_inputs_that_need_a_full_unpickle_are_refused(tmp_path, base, data, marker, torch_never_loads):
    """torch retries a failed weights_only load of the sample inputs with weights_only=False."""
    def members(content):
        content["data/sample_inputs/model.pt"] = evil_pickle(marker)
    _refused(rewrite(base, tmp_path / "samples.pt2", members=members), data, marker, "sample inputs")


def test_names_that_would_reach_generated_code_are_refused(tmp_path, base, data, marker, torch_never_loads):
    injected = 'a")or exec("' + payload_code(marker).replace('"', "'") + '")or("'

    def program(model):
        spec = model["graph_module"]["signature"]["input_specs"][0]
        spec["parameter"]["parameter_name"] = injected
    _refused(rewrite(base, tmp_path / "names.pt2", program=program), data, marker, "attribute path")


@pytest.mark.parametrize("extra", ["data/aotinductor/model/model.so", "extra/notes.txt", "code/__torch__/m.py",
                                   "models/other.json", "data/weights/../../evil"])
def test_members_outside_the_allow_list_are_refused(tmp_path, base, data, marker, torch_never_loads, extra):
    def members(content):
        content[extra] = b"\x7fELF"
    _refused(rewrite(base, tmp_path / "extra.pt2", members=members), data, marker, "does not write")


def test_duplicate_member_names_are_refused(tmp_path, base, data, marker, torch_never_loads):
    evil = tmp_path / "duplicate.pt2"
    evil.write_bytes(base.read_bytes())
    with zipfile.ZipFile(evil, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        root = archive.namelist()[0].split("/")[0]
        archive.writestr(f"{root}/models/model.json", b"{}")
    _refused(evil, data, marker, "more than once")


def test_zip_bomb_is_refused_from_the_directory(tmp_path, base, data, marker, torch_never_loads):
    def members(content):
        content["data/weights/weight_0"] = bytes(48 << 20)  # 48 MiB of zeros deflate to about 50 KiB
    bomb = rewrite(base, tmp_path / "bomb.pt2", members=members, compression=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 1 << 20
    _refused(bomb, data, marker, "zip bomb")


def test_too_many_members_are_refused(tmp_path, base, data, marker, torch_never_loads):
    def members(content):
        for i in range(10_001):
            content[f"data/weights/weight_{i + 100}"] = b""
    _refused(rewrite(base, tmp_path / "many.pt2", members=members), data, marker, "members")


class _WithConstant(nn.Module):
    """A buffer, a lifted tensor constant and batch-size arithmetic: all of it plain."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(width)
        self.fc = nn.Linear(width, 2)
        self.offset = torch.tensor([0.5, -0.5])  # not a buffer: exported as a tensor constant

    def forward(self, x):
        flat = x.reshape(x.shape[0], -1)
        return self.fc(self.norm(flat)) + self.offset


@pytest.mark.parametrize("make", [lambda w: nn.Sequential(nn.Linear(w, 4), nn.ReLU(), nn.Linear(4, 2)), _WithConstant])
def test_plain_exports_pass_the_allow_list(tmp_path, data, make):
    width = data.test.x.shape[1]
    module = make(width)
    path = export_plain(tmp_path / "plain.pt2", module, width=width)
    model = load_user_model(path, data=data, device="cpu")
    expected = module.eval()(data.test.x).softmax(dim=1).detach().numpy()
    assert model.predict_proba(data.test.x) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("damage", [
    lambda raw: raw[:-2] + b"\x02\x00xx",  # a zip comment after the directory
    lambda raw: b"\x00" * 64 + raw,  # bytes before the first member
    lambda raw: raw + b"PK\x05\x06" + bytes(18),  # a second end-of-directory record appended
])
def test_archives_readers_could_disagree_on_are_refused(tmp_path, base, data, marker, torch_never_loads, damage):
    evil = tmp_path / "ambiguous.pt2"
    evil.write_bytes(damage(base.read_bytes()))
    _refused(evil, data, marker, "bytes before or after|not a torch.export archive|damaged")


def test_a_graph_that_writes_to_its_input_cannot_change_the_audit_data(tmp_path, base, data):
    """An in-place ATen op on the input is plain tensor math, but must not rewrite the rows every suite reads."""
    def program(model):
        graph = model["graph_module"]["graph"]
        name = graph["inputs"][-1]["as_tensor"]["name"]
        graph["tensor_values"]["overwritten"] = graph["tensor_values"][name]
        graph["nodes"].insert(0, {
            "target": "torch.ops.aten.fill_.Scalar", "name": "overwritten", "metadata": {},
            "inputs": [{"name": "self", "arg": {"as_tensor": {"name": name}}, "kind": 1},
                       {"name": "value", "arg": {"as_int": 7}, "kind": 1}],
            "outputs": [{"as_tensor": {"name": "overwritten"}}]})
    rows = data.test.x.clone()
    model = load_user_model(rewrite(base, tmp_path / "mutating.pt2", program=program), data=data, device="cpu")
    model.predict_proba(data.test.x)
    assert torch.equal(data.test.x, rows)


def test_members_torch_cannot_decompress_are_refused(tmp_path, base, data, marker, torch_never_loads):
    evil = rewrite(base, tmp_path / "bzip2.pt2", compression=zipfile.ZIP_BZIP2)
    _refused(evil, data, marker, "compression method 12")


@pytest.mark.parametrize("expression, safe", [
    ("Symbol('s77', positive=True, integer=True)", True),  # what torch 2.13 writes for a dynamic batch
    ("6*s0", True), ("FloorDiv(s0, 2) + 1", True), ("Max(1, s0)", True),
    ("2**s0", False),  # no powers: a huge exponent would hang sympy
    ("__import__('os')", False), ("s0.__class__", False), ("s0[0]", False), ("lambda: 0", False),
    ("\uff45\uff58\uff45\uff43(1)", False),  # full-width 'exec', which Python's compiler folds to ASCII
    ("s\u0661", False),  # an Arabic-Indic digit
    ("s0 " * 200, False),  # too long
])
def test_shape_expression_grammar(expression, safe):
    assert is_safe_expression(expression) is safe


def test_range_constraints_must_be_integer_bounds(tmp_path, base, data, marker, torch_never_loads):
    def program(model):
        for bounds in model["range_constraints"].values():
            bounds["max_val"] = payload_code(marker)
    _refused(rewrite(base, tmp_path / "ranges.pt2", program=program), data, marker, "integer bounds")
