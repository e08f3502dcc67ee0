"""Allow-list for the program JSON (models/model.json) of a .pt2: the graph of a plain exported nn.Module.

Accepted: ATen/prims operator overloads and a few `operator` functions as node targets; tensor, scalar,
list and symbolic-size arguments; shape expressions in the small grammar torch writes for dynamic sizes
(sympy evaluates them with eval, so nothing else may reach it); parameters, buffers and tensor constants.
Refused: guard code (torch execs it), custom objects, subgraphs, operator-valued arguments, pytree
contexts that name Python types, and names that are not plain identifiers (they end up in generated code).
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from collections.abc import Callable, Iterator
from typing import Any

from audit.errors import AuditInputError

Refuse = Callable[[str], AuditInputError]

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
FQN = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*\Z")
SHAPE_SYMBOL = re.compile(r"[a-z]{1,8}[0-9]{1,9}\Z")  # ASCII only: \d would admit other scripts' digits
NUMBER = re.compile(r"[0-9]{1,19}(\.[0-9]{1,19})?\Z")
OP_NAMESPACES = frozenset({"aten", "prims"})
OPERATOR_FUNCTIONS = frozenset({
    "getitem", "add", "sub", "mul", "floordiv", "truediv", "mod", "neg", "pos", "abs",
    "eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "not_",
})
ARGUMENT_KINDS = frozenset({
    "as_none", "as_tensor", "as_tensors", "as_optional_tensor", "as_optional_tensors", "as_nested_tensors",
    "as_int", "as_ints", "as_int_lists", "as_float", "as_floats", "as_float_lists", "as_bool", "as_bools",
    "as_string", "as_strings", "as_complex", "as_sym_int", "as_sym_ints", "as_sym_bool", "as_sym_bools",
    "as_sym_float", "as_sym_floats", "as_scalar_type", "as_memory_format", "as_layout", "as_device",
    "as_string_to_argument",
})
INPUT_SPECS = {"user_input": None, "parameter": "parameter_name", "buffer": "buffer_name",
               "tensor_constant": "tensor_constant_name", "constant_input": "name"}
OUTPUT_SPECS = {"user_output": None, "buffer_mutation": "buffer_name", "user_input_mutation": "user_input_name"}
# argument types of the operators tensor code calls (SymInt and ScalarType print as int, Scalar as number)
SCHEMA_TYPE_WORDS = frozenset({"Tensor", "int", "float", "bool", "complex", "number", "List", "Optional",
                               "Device", "Generator"})
# string arguments that only select a mode (gelu's approximate, div's rounding_mode...), never a path or code
MODE_ARGUMENTS = frozenset({"approximate", "reduce", "rounding_mode", "mode", "padding", "padding_mode", "norm",
                            "interpolation", "side", "indexing", "equation", "ord", "driver", "UPLO", "pad_mode",
                            "padding_side", "assert_msg"})
VERIFIERS = frozenset({"TRAINING", "ATEN"})
TREESPEC_TYPES = frozenset({None, "builtins.tuple", "builtins.list", "builtins.dict", "collections.OrderedDict"})
# sympy names a dynamic-shape expression may use; no power functions (a huge exponent would hang sympy)
EXPRESSION_NAMES = frozenset({
    "Symbol", "Integer", "True", "False", "positive", "integer", "nonnegative", "real",
    "Max", "Min", "FloorDiv", "CeilDiv", "CleanDiv", "Mod", "PythonMod", "ModularIndexing",
    "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not",
})
EXPRESSION_OPS = frozenset({"+", "-", "*", "/", "//", "%", "(", ")", ",", "=", "<", ">", "<=", ">=", "==", "!="})
MAX_EXPRESSION_CHARS = 400
MAX_NESTING = 64  # arguments and pytree specs of a real module nest a few levels


def is_fqn(name: object) -> bool:
    return isinstance(name, str) and FQN.match(name) is not None


def _is_identifier(name: object) -> bool:
    return isinstance(name, str) and IDENTIFIER.match(name) is not None and not name.startswith("__")


def _resolve_overload(parts: list[str]) -> Any:
    import torch

    try:  # a registry lookup in the dispatcher: no code from the file runs
        overload = getattr(getattr(getattr(torch.ops, parts[2]), parts[3]), parts[4])
    except (AttributeError, RuntimeError):
        return None
    return overload if isinstance(overload, torch._ops.OpOverload) else None


def _unusual_argument(overload: Any) -> str | None:
    """The first argument whose type a tensor computation does not need (a file name, a generic object...)."""
    for argument in overload._schema.arguments:
        words = set(re.findall(r"[A-Za-z_]\w*", str(argument.type)))
        if not words <= SCHEMA_TYPE_WORDS | {"str"} or ("str" in words and argument.name not in MODE_ARGUMENTS):
            return f"{argument.name}: {argument.type}"
    return None


def target_problem(target: object) -> str | None:
    """Why a graph node may not call `target`; None for ATen/prims overloads of tensor math and `operator`s."""
    parts = target.split(".") if isinstance(target, str) else []
    if len(parts) == 2 and parts[0] == "_operator" and parts[1] in OPERATOR_FUNCTIONS:
        return None
    overload = None
    if len(parts) == 5 and parts[:2] == ["torch", "ops"] and parts[2] in OP_NAMESPACES \
            and all(_is_identifier(p) for p in parts[3:]):
        overload = _resolve_overload(parts)
    if overload is None:
        return "which is not an ATen operator (custom ops, Python functions and higher-order ops are not accepted)"
    unusual = _unusual_argument(overload)
    if unusual:
        return f"an operator with an argument ({unusual}) that tensor arithmetic does not take, e.g. a file name"
    return None


def _expression_tokens(text: str) -> Iterator[tokenize.TokenInfo]:
    skip = {tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER}
    return (t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in skip)


def _is_allowed_token(token: tokenize.TokenInfo) -> bool:
    if token.type == tokenize.NAME:
        return token.string in EXPRESSION_NAMES or SHAPE_SYMBOL.match(token.string) is not None
    if token.type == tokenize.NUMBER:
        return NUMBER.match(token.string) is not None
    if token.type == tokenize.STRING:
        return token.string[:1] in "'\"" and SHAPE_SYMBOL.match(token.string[1:-1]) is not None
    return token.type == tokenize.OP and token.string in EXPRESSION_OPS


def is_safe_expression(text: object) -> bool:
    """Whether a shape expression stays inside the grammar torch writes (sympify evals whatever it gets)."""
    if not isinstance(text, str) or not text or len(text) > MAX_EXPRESSION_CHARS or "\n" in text:
        return False
    try:
        return all(_is_allowed_token(t) for t in _expression_tokens(text))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return False


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                yield key, child
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def check_no_guard_code(program: Any, refuse: Refuse) -> None:
    guards = program.get("guards_code") if isinstance(program, dict) else None
    if guards:
        first = str(guards[0])[:80] if isinstance(guards, list) else str(guards)[:80]
        raise refuse(f"carries guard code ({first!r}), which torch.export would exec on every call")
    if not isinstance(program, dict) or not isinstance(program.get("graph_module"), dict):
        raise refuse("has no exported program in models/model.json")


def _check_expressions(program: dict, refuse: Refuse) -> None:
    for key, value in _walk(program):
        if key == "expr_str" and not is_safe_expression(value):
            raise refuse(f"holds a shape expression outside the grammar of dynamic sizes ({str(value)[:80]!r}); "
                         "torch would evaluate it as Python")


def _listed(value: Any, what: str, refuse: Refuse) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise refuse(f"has malformed {what}")
    return value


def _check_argument(arg: Any, where: str, refuse: Refuse, depth: int = 0) -> None:
    if not (isinstance(arg, dict) and len(arg) == 1) or depth > MAX_NESTING:
        raise refuse(f"has a malformed argument in {where}")
    ((kind, value),) = arg.items()
    if kind not in ARGUMENT_KINDS:
        raise refuse(f"passes a {kind!r} argument in {where} (custom objects, subgraphs and operators are not "
                     "part of a plain module)")
    if kind == "as_string_to_argument":
        for child in (value.values() if isinstance(value, dict) else [None]):
            _check_argument(child, where, refuse, depth + 1)


def _check_nodes(graph: dict, refuse: Refuse) -> None:
    nodes = graph.get("nodes")
    if not isinstance(nodes, list):
        raise refuse("has a graph without a node list")
    for node in nodes:
        target = node.get("target") if isinstance(node, dict) else None
        problem = target_problem(target)
        if problem:
            raise refuse(f"calls {str(target)[:80]!r}, {problem}")
        where = f"the call to {target}"
        for named in _listed(node.get("inputs"), f"the inputs of {where}", refuse):
            if not (isinstance(named, dict) and _is_identifier(named.get("name"))):
                raise refuse(f"has a malformed input in {where}")
            _check_argument(named.get("arg"), where, refuse)
        for output in _listed(node.get("outputs"), f"the outputs of {where}", refuse):
            _check_argument(output, where, refuse)
        if node.get("name") is not None and not _is_identifier(node.get("name")):
            raise refuse(f"names a node {str(node.get('name'))[:80]!r}, which is not an identifier")


def _check_names(graph: dict, refuse: Refuse) -> None:
    for key, value in _walk(graph):
        if key in ("name", "as_name") and isinstance(value, str) and not _is_identifier(value):
            raise refuse(f"names a value {value[:80]!r}, which is not an identifier")
    if graph.get("custom_obj_values"):
        raise refuse("holds custom objects (custom_obj_values), which torch would unpickle")


def _check_specs(signature: Any, refuse: Refuse) -> None:
    if not isinstance(signature, dict):
        raise refuse("has no graph signature")
    for field, allowed in (("input_specs", INPUT_SPECS), ("output_specs", OUTPUT_SPECS)):
        for spec in _listed(signature.get(field), f"its {field}", refuse):
            if not (isinstance(spec, dict) and len(spec) == 1):
                raise refuse(f"has a malformed {field[:-1]}")
            ((kind, body),) = spec.items()
            if kind not in allowed:
                raise refuse(f"declares a {kind!r} {field[:-6]} (only parameters, buffers, tensor constants and "
                             "tensor inputs/outputs are accepted)")
            name = body.get(allowed[kind]) if isinstance(body, dict) and allowed[kind] else None
            if allowed[kind] and not is_fqn(name):
                raise refuse(f"names a {kind} {str(name)[:80]!r}, which is not an attribute path")


def _contains_dict(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            return True
        if isinstance(item, list):
            stack.extend(item)
    return False


def _is_plain_treespec(node: Any, depth: int = 0) -> bool:
    kind = node.get("type") if isinstance(node, dict) else ()
    if depth > MAX_NESTING or not (kind is None or isinstance(kind, str)) or kind not in TREESPEC_TYPES:
        return False
    context = node.get("context")
    if context is not None:
        try:
            decoded = json.loads(context)
        except (TypeError, ValueError, RecursionError):
            return False
        if _contains_dict(decoded):
            return False  # a dict in a context can name a module for pytree's enum hook to import
    children = node.get("children_spec")
    return isinstance(children, list) and all(_is_plain_treespec(c, depth + 1) for c in children)


def _check_call_graph(graph_module: dict, refuse: Refuse) -> None:
    if graph_module.get("treespec_namedtuple_fields"):
        raise refuse("declares namedtuple types for its inputs or outputs")
    entries = graph_module.get("module_call_graph") or []
    for entry in entries if isinstance(entries, list) else [None]:
        fqn = entry.get("fqn") if isinstance(entry, dict) else None
        if fqn != "" and not is_fqn(fqn):
            raise refuse(f"names a submodule {str(fqn)[:80]!r}, which is not an attribute path")
        signature = entry.get("signature")
        if signature is None:
            continue
        if not isinstance(signature, dict):
            raise refuse(f"has a malformed call signature for {fqn!r}")
        for spec_key in ("in_spec", "out_spec"):
            try:
                protocol, spec = json.loads(signature.get(spec_key))
            except (TypeError, ValueError, RecursionError):
                protocol, spec = None, None
            if protocol != 1 or not _is_plain_treespec(spec):
                raise refuse(f"declares an input/output structure ({spec_key}) beyond tuples, lists and dicts")
        names = signature.get("forward_arg_names") or []
        if not (isinstance(names, list) and all(_is_identifier(n) for n in names)):
            raise refuse("names forward arguments that are not identifiers")


def _is_int_range(bounds: Any) -> bool:
    return isinstance(bounds, dict) and set(bounds) <= {"min_val", "max_val"} \
        and all(v is None or type(v) is int for v in bounds.values())


def _check_header(program: dict, refuse: Refuse) -> None:
    verifiers = program.get("verifiers") or []
    if not (isinstance(verifiers, list) and all(isinstance(v, str) and v in VERIFIERS for v in verifiers)):
        raise refuse(f"asks for verifiers {verifiers!r} (a plain export uses {sorted(VERIFIERS)})")
    ranges = program.get("range_constraints") or {}
    if not (isinstance(ranges, dict) and all(SHAPE_SYMBOL.match(k) and _is_int_range(v) for k, v in ranges.items())):
        raise refuse("declares range constraints that are not integer bounds on shape symbols")


def check_program(program: Any, refuse: Refuse) -> None:
    """Raise refuse(...) unless the program JSON is the graph of a plain exported nn.Module."""
    check_no_guard_code(program, refuse)
    _check_header(program, refuse)
    graph_module = program["graph_module"]
    graph = graph_module.get("graph")
    if not isinstance(graph, dict):
        raise refuse("has no graph")
    _check_nodes(graph, refuse)
    _check_names(graph, refuse)
    _check_specs(graph_module.get("signature"), refuse)
    _check_call_graph(graph_module, refuse)
    _check_expressions(program, refuse)
