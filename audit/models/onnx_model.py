"""ONNX graphs run through onnxruntime (CPU provider; CUDA when present and asked for). No gradients here.

The file is read with `onnx` first and accepted only if it is self-contained (no external-data files, which
onnxruntime would open by a path written in the model) and uses only the standard operator domains (ai.onnx and
ai.onnx.ml): a custom domain would need code from a custom-op library. The graph's one input is checked
against the audit data (name, shape, dtype) before any suite runs; its first tensor output is read as
probabilities when every probe row lies in [0, 1] and sums to 1, otherwise as logits (the description says which).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audit.data.types import Dataset
from audit.errors import AuditInputError
from audit.hashing import file_sha256
from audit.models.types import ModelSource, ModelUnderAudit, QueryOnlyModule

ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
PROBE_ROWS = 256
_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}


def _import_runtime() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ModuleNotFoundError:
        raise AuditInputError("Reading .onnx models needs onnxruntime and onnx: pip install 'audit[onnx]'") from None
    return onnx, onnxruntime


def _tensors(graph: Any) -> list[Any]:
    """Every tensor of a graph and of the subgraphs inside its nodes (If, Loop, Scan)."""
    found = list(graph.initializer)
    for node in graph.node:
        for attribute in node.attribute:
            found += ([attribute.t] if attribute.HasField("t") else []) + list(attribute.tensors)
            subgraphs = ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs)
            for sub in subgraphs:
                found += _tensors(sub)
    return found


def _external_data(onnx: Any, model: Any) -> list[str]:
    return [t.name for t in _tensors(model.graph) if t.data_location == onnx.TensorProto.EXTERNAL]


def check_graph(path: Path) -> None:
    """The allow-list: a self-contained graph of standard operators."""
    onnx, _ = _import_runtime()
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # noqa: BLE001 - protobuf fails on damaged files in many ways
        raise AuditInputError(f"{path.name!r} is not a readable ONNX model: {_first_line(error)}") from None
    domains = {opset.domain for opset in model.opset_import} | {n.domain for n in model.graph.node}
    custom = sorted(domains - ALLOWED_DOMAINS)
    if custom:
        raise AuditInputError(f"{path.name!r} uses operator domain(s) {custom}, which need a custom-op library "
                              "(code); only the standard ai.onnx and ai.onnx.ml operators are accepted.")
    external = _external_data(onnx, model)
    if external:
        raise AuditInputError(f"{path.name!r} keeps tensors in external files ({', '.join(external[:3])}); save "
                              "the model as one self-contained .onnx file (onnx.save(model, path, "
                              "save_as_external_data=False)).")


def _providers(onnxruntime: Any, device: str) -> list[str]:
    available = onnxruntime.get_available_providers()
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def open_session(path: Path, device: str = "cpu") -> Any:
    check_graph(path)
    _, onnxruntime = _import_runtime()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("OMP_NUM_THREADS") or 0)  # 0: onnxruntime's default
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options,
                                            providers=_providers(onnxruntime, device))
    except Exception as error:  # noqa: BLE001
        raise AuditInputError(f"onnxruntime could not load {path.name!r}: {_first_line(error)}") from None


@dataclass(frozen=True)
class GraphInput:
    name: str
    shape: tuple[Any, ...]  # ints for fixed sizes, names (or None) for dynamic ones
    dtype: str

    def describe(self) -> str:
        dims = ", ".join("batch" if i == 0 and not isinstance(d, int) else str(d) for i, d in enumerate(self.shape))
        return f"input {self.name!r} of shape ({dims}) and type {self.dtype}"


def graph_input(session: Any, name: str) -> GraphInput:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise AuditInputError(f"{name!r} takes {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); the "
                              "audit feeds one tensor of features (or images): export the model with one input.")
    return GraphInput(inputs[0].name, tuple(inputs[0].shape), inputs[0].type)


def check_input(spec: GraphInput, data: Dataset, name: str) -> None:
    """Shape and dtype of the graph's input against the audit data: exit 2 naming both on a mismatch."""
    wanted = (len(data.test),) + tuple(data.input_shape)
    data_text = f"the data gives rows of shape {tuple(data.input_shape)} (float32) from {data.name!r}"
    if spec.dtype not in _DTYPES:
        raise AuditInputError(f"{name!r} has {spec.describe()}, but {data_text}: the audit feeds float tensors.")
    fixed = [(i, d) for i, d in enumerate(spec.shape) if isinstance(d, int) and i > 0]
    if len(spec.shape) != len(wanted) or any(d != wanted[i] for i, d in fixed):
        raise AuditInputError(f"{name!r} has {spec.describe()}, but {data_text}; check --features (count and order) "
                              "or export the model for these inputs.")
    if isinstance(spec.shape[0], int) and spec.shape[0] != 1 and spec.shape[0] != len(data.test):
        raise AuditInputError(f"{name!r} has a fixed batch size {spec.shape[0]} ({spec.describe()}); export it with "
                              "a dynamic batch dimension (dynamic_axes={'input': {0: 'batch'}}).")


class OnnxBackend:
    """Runs the graph on float batches; a fixed batch size of 1 is served row by row."""

    def __init__(self, session: Any, spec: GraphInput, output: str, binary_wrap: str | None):
        self.session, self.spec, self.output, self.binary_wrap = session, spec, output, binary_wrap
        self.dtype = _DTYPES[spec.dtype]

    def _run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if self.spec.shape[0] == 1 and len(x) != 1:
            return np.concatenate([self._run(x[i : i + 1]) for i in range(len(x))]) if len(x) else np.empty((0, 0))
        (out,) = self.session.run([self.output], {self.spec.name: x})
        return np.asarray(out, dtype=np.float64)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        out = self._run(x)
        if self.binary_wrap is None:
            return out
        z = out.reshape(-1, 1)
        return np.concatenate([1 - z, z] if self.binary_wrap == "probability" else [np.zeros_like(z), z], axis=1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.outputs(x).argmax(axis=1)


def _first_tensor_output(session: Any, name: str) -> str:
    for out in session.get_outputs():
        if out.type in _DTYPES:
            return out.name
    kinds = ", ".join(f"{o.name}: {o.type}" for o in session.get_outputs())
    raise AuditInputError(f"{name!r} has no float tensor output of class scores ({kinds}); export it with "
                          "probabilities or logits as a tensor (skl2onnx: options={'zipmap': False}).")


def _read_outputs(out: np.ndarray, data: Dataset, name: str) -> tuple[str | None, str]:
    """(binary wrapping or None, "logits" | "probabilities") from a probe batch's raw output."""
    if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        if data.n_classes != 2:
            raise AuditInputError(f"{name!r} returns one score per row but the data has {data.n_classes} classes.")
        in_unit = bool(((out >= 0) & (out <= 1)).all())
        return ("probability", "probabilities") if in_unit else ("logit", "logits")
    if out.ndim != 2 or out.shape[1] != data.n_classes:
        raise AuditInputError(f"{name!r} outputs shape {out.shape} but the data has {data.n_classes} classes "
                              f"{list(data.class_names)}: expected (batch, {data.n_classes}).")
    rows_sum_to_one = bool(((out >= 0) & (out <= 1)).all() and np.allclose(out.sum(axis=1), 1, atol=1e-4))
    return None, "probabilities" if rows_sum_to_one else "logits"


def onnx_model(session: Any, data: Dataset, name: str, source: ModelSource, device: str) -> ModelUnderAudit:
    spec = graph_input(session, name)
    check_input(spec, data, name)
    output = _first_tensor_output(session, name)
    backend = OnnxBackend(session, spec, output, None)
    try:
        raw = backend._run(data.test.x[:PROBE_ROWS].numpy())
    except Exception as error:  # noqa: BLE001 - any failure on the probe batch is a model/data mismatch
        raise AuditInputError(f"{name!r} failed on the audit data ({spec.describe()}): {_first_line(error)}") from None
    if not np.isfinite(raw).all():
        raise AuditInputError(f"{name!r} produced NaN or infinite outputs on the audit data.")
    backend.binary_wrap, outputs = _read_outputs(raw, data, name)
    capabilities = {"predict", "predict_proba", "score", "queries"} | ({"logits"} if outputs == "logits" else set())
    provider = session.get_providers()[0]
    return ModelUnderAudit(
        name=name, module=QueryOnlyModule(backend), task=data.task, n_classes=data.n_classes,
        input_kind=data.input_kind, input_shape=data.input_shape, outputs=outputs,
        device="cuda" if provider == "CUDAExecutionProvider" else "cpu", capabilities=frozenset(capabilities),
        source=source, backend=backend,
        description=f"ONNX graph on onnxruntime {provider}: output {output!r} read as {outputs} "
                    f"({_why(outputs, raw)}); no gradients (black-box only)",
    )


def _why(outputs: str, raw: np.ndarray) -> str:
    if outputs == "probabilities":
        return f"all {len(raw)} probe rows lie in [0, 1] and sum to 1"
    return f"the {len(raw)} probe rows are not all probabilities in [0, 1] summing to 1"


def load_onnx_model(path: Path, data: Dataset, device: str = "cpu") -> ModelUnderAudit:
    session = open_session(path, device)
    return onnx_model(session, data, path.stem, ModelSource("onnx", str(path), file_sha256(path)), device)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:300]
