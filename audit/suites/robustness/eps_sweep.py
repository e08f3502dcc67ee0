"""The white-box ε sweep of one norm: every ε in one batch of rows × ε, rows added look by look.

Rows join in a seeded shuffled order (`AttackSetup.order`). At each look of `AttackSetup.looks` (sequential
sampling, audit.stats.SequentialLooks) the next block of rows is attacked at every ε still open, all of them
in one batch where row i at ε e is one row with its own budget: FGSM from one gradient per row for every ε,
then PGD and APGD (CE, and DLR with 3+ classes) with early stopping per row. A look's block is attacked in
shards of at most `shard_rows` rows (`attack_shard`), each a task of its own through SuiteContext.fan_out_parts:
in order in this process, or side by side as Ray tasks under --executor ray. A shard's random starts come from
its own seed (the run seed, the look and the shard's index), never from its neighbours', so the figures are the
same on either executor. A row an attack fooled at a
smaller ε counts as fooled by that attack at every larger ε of the batch, since its point lies in every larger
ball (what a warm start of an ε-by-ε sweep carries over). An ε closes at the first look where the interval of
its worst-case robust accuracy is as tight as the preset asks; its figures are reported on the rows seen so
far, with that look's share of the error rate. Each shard is one checkpointed part: a resumed run reads finished
shards back, and a run sees the same JSON value whether computed or read back.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from audit.executors.tasks import item_seeds
from audit.stats import derive_seed
from audit.suite import Progress
from audit.suites.robustness.apgd import APGDConfig, apgd_with_stats
from audit.suites.robustness.sweep import SHARD_GPUS, AttackSetup, Outcome
from audit.suites.robustness.torch_pgd import PGDConfig, fgsm_sweep, pgd_with_stats
from audit.types import JSONValue

FanOutParts = Callable[..., list[Any]]  # SuiteContext.fan_out_parts
STOPPING = "a row stops at its first misclassified iterate"
SWEEP_SALT = 4300  # look k of a norm fans out with salt SWEEP_SALT + 2k (+1 for L2): its shards' seeds


def attack_plan(setup: AttackSetup, norm: str) -> list[tuple[str, PGDConfig | APGDConfig, int]]:
    """(name, config with a unit budget scaled per row, seed salt) of each iterative attack of a norm."""
    p = setup.params
    pgd = PGDConfig(norm, 1.0, p.pgd_steps, p.pgd_restarts)
    plan: list[tuple[str, PGDConfig | APGDConfig, int]] = [("pgd", pgd, 1)]
    if p.run_apgd and norm == "linf":  # AutoAttack's standard L∞ pairing; L2 keeps FGSM + PGD
        plan.append(("apgd-ce", APGDConfig(norm, 1.0, p.apgd_steps, "ce"), 8))
        if setup.n_classes > 2:  # the DLR loss needs a third-largest logit
            plan.append(("apgd-dlr", APGDConfig(norm, 1.0, p.apgd_steps, "dlr"), 9))
    return plan


def _encode(points: torch.Tensor) -> str:
    return base64.b64encode(points.detach().cpu().numpy().astype("<f4").tobytes()).decode("ascii")


def _decode(text: str, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype="<f4").reshape(-1, *shape).copy())


@dataclass(frozen=True)
class LookWork:
    """What every shard of one look shares (put into Ray's object store once)."""

    setup: AttackSetup
    norm: str
    eps: tuple[float, ...]


@dataclass(frozen=True)
class Shard:
    """Audit rows attacked together, and which of them keep their PGD points whatever the outcome."""

    rows: np.ndarray
    keep: np.ndarray


def attack_shard(work: LookWork, shard: Shard, seed: int) -> dict[str, JSONValue]:
    """One task of a look (audit.executors.tasks): every attack at every open ε on the shard's rows."""
    return attack_look(work.setup, work.norm, work.eps, shard.rows, seed, shard.keep)


def attack_look(setup: AttackSetup, norm: str, eps: Sequence[float], block: np.ndarray, seed: int,
                keep: np.ndarray) -> dict[str, JSONValue]:
    """Every attack at every ε on the audit rows `block`, each attack's random starts drawn from `seed` and its salt;
    survival as each attack's own run found it (carrying across ε happens on assembly). PGD's L∞ points are kept
    for the rows it fooled and the rows in `keep`."""
    u, y, p = setup.u[block], setup.y[block], setup.params
    b, n_eps, y_np = len(block), len(eps), setup.y[block].numpy()
    clean = setup.clean_correct[block]
    attacks: dict[str, JSONValue] = {}
    fgsm_points = fgsm_sweep(setup.view, u, y, setup.space, norm, eps, p.batch_size)
    attacks["fgsm"] = {"survived": [(clean & (setup.predict(pts) == y_np)).tolist() for pts in fgsm_points],
                       "steps": [[1] * b] * n_eps, "restarts_run": 0}
    stacked, labels = u.repeat_interleave(n_eps, dim=0), y.repeat_interleave(n_eps)  # row-major: row i at ε e is i·E+e
    budget = torch.tensor(list(eps), dtype=u.dtype).repeat(b)
    points: list[JSONValue] = []
    for name, cfg, salt in attack_plan(setup, norm):
        run = pgd_with_stats if isinstance(cfg, PGDConfig) else apgd_with_stats
        generator = torch.Generator().manual_seed(derive_seed(seed, salt))
        adv, stats = run(setup.view, stacked, labels, setup.space, cfg, generator, p.batch_size, radius=budget,
                         stop_when_fooled=True)
        survived = clean[:, None] & (setup.predict(adv).reshape(b, n_eps) == y_np[:, None])
        steps = stats.steps_per_row.reshape(b, n_eps) if stats.steps_per_row is not None else torch.zeros(b, n_eps)
        attacks[name] = {"survived": survived.T.tolist(), "steps": steps.T.tolist(),
                         "restarts_run": stats.restarts_run}
        if name == "pgd" and norm == "linf":
            adv = adv.reshape(b, n_eps, *u.shape[1:]).transpose(0, 1)
            for e in range(n_eps):
                kept = (clean & ~survived[:, e]) | keep
                points.append({"rows": block[kept].tolist(), "data": _encode(adv[e][torch.from_numpy(kept)])})
    return {"eps": list(eps), "rows": block.tolist(), "attacks": attacks, "points": points}


@dataclass
class _Figure:
    """One attack at one ε, block by block: survival after carrying, gradient steps, carried rows."""

    survived: list[np.ndarray] = field(default_factory=list)
    steps: int = 0
    carried: int = 0
    restarts_run: int = 0


@dataclass
class NormSweep:
    """What the looks of one norm found so far."""

    setup: AttackSetup
    norm: str
    eps: tuple[float, ...]
    names: list[str]
    figures: dict[tuple[str, float], _Figure] = field(default_factory=dict)
    stopped: dict[float, int] = field(default_factory=dict)  # ε -> look index at which it closed
    points: dict[float, torch.Tensor] = field(default_factory=dict)  # PGD L∞ points (audit rows; clean if not kept)

    def __post_init__(self) -> None:
        self.figures = {(a, e): _Figure() for a in self.names for e in self.eps}
        if self.norm == "linf":
            self.points = {e: self.setup.u.clone() for e in self.eps}

    def absorb(self, value: dict[str, Any]) -> None:
        """One look's part: carry each iterative attack's successes up the ε of the batch, then record."""
        eps, rows = [float(e) for e in value["eps"]], np.asarray(value["rows"], dtype=np.int64)
        shape = tuple(self.setup.u.shape[1:])
        for name, found in value["attacks"].items():
            below: np.ndarray | None = None
            for i, e in enumerate(eps):
                own = np.asarray(found["survived"][i], dtype=bool)
                fig = self.figures[(name, e)]
                now = own if below is None or name == "fgsm" else own & below  # FGSM stays cold: PGD's baseline
                fig.carried += int((own & ~now).sum())
                fig.survived.append(now)
                fig.steps += int(np.sum(found["steps"][i]))
                fig.restarts_run = max(fig.restarts_run, int(found["restarts_run"]))
                if name == "pgd" and self.norm == "linf":
                    kept = value["points"][i]
                    self.points[e][np.asarray(kept["rows"], dtype=np.int64)] = _decode(kept["data"], shape)
                    if below is not None:  # a carried row keeps the point that fooled it at the smaller ε
                        moved = torch.from_numpy(rows[own & ~now])
                        self.points[e][moved] = self.points[eps[i - 1]][moved]
                below = now

    def worst(self, e: float) -> np.ndarray:
        """Per row seen at ε (in look order): survived every attack."""
        out = None
        for name in self.names:
            rows = np.concatenate(self.figures[(name, e)].survived)
            out = rows if out is None else out & rows
        return out if out is not None else np.zeros(0, dtype=bool)

    def close_tight(self, look: int, open_eps: list[float]) -> list[float]:
        """The ε still open after this look (an ε closes when its interval is tight enough, or rows run out)."""
        still = []
        for e in open_eps:
            worst = self.worst(e)
            if self.setup.looks.stops(look, int(worst.sum()), worst.size):
                self.stopped[e] = look
            else:
                still.append(e)
        return still


def sweep_norm(setup: AttackSetup, norm: str, eps: tuple[float, ...], fan_out: FanOutParts,
               progress: Callable[[str], None]) -> NormSweep:
    """Attack look by look until every ε of the norm is closed."""
    plan = [name for name, _, _ in attack_plan(setup, norm)]
    state = NormSweep(setup, norm, tuple(sorted(eps)), ["fgsm", *plan])
    open_eps, start = list(state.eps), 0
    for look, n in enumerate(setup.looks.looks):
        if not open_eps:
            break
        for value in _look_values(setup, norm, tuple(open_eps), setup.order[start:n], look, fan_out):
            state.absorb(value)
        open_eps = state.close_tight(look, open_eps)
        start = n
        progress(f"robustness: {norm}, {n} rows, {len(open_eps)} ε still open")
    return state


def _look_values(setup: AttackSetup, norm: str, todo: tuple[float, ...], block: np.ndarray, look: int,
                 fan_out: FanOutParts) -> list[dict[str, Any]]:
    """Each shard's part of one look, in row order: computed as tasks, or read back from a killed run."""
    keep = np.isin(block, setup.order[: setup.params.n_image_examples])
    shards = [Shard(block[piece], keep[piece]) for piece in setup.shard_pieces(len(block))]
    work, salt = LookWork(setup, norm, todo), SWEEP_SALT + 2 * look + (norm == "l2")
    values = fan_out(f"{norm}-look{look + 1}", attack_shard, shards, salt=salt, shared=work, gpus=SHARD_GPUS)
    seeds = item_seeds(setup.seed, salt, len(shards))
    return [value if value["eps"] == list(todo) and value["rows"] == shard.rows.tolist()
            else attack_shard(work, shard, seed)  # a part from another sweep: redo
            for value, shard, seed in zip(values, shards, seeds, strict=True)]


def _details(state: NormSweep, name: str, e: float, cfg: PGDConfig | APGDConfig | None) -> dict[str, JSONValue]:
    fig, look = state.figures[(name, e)], state.stopped[e]
    looks = state.setup.looks
    out: dict[str, JSONValue] = {
        "rows": looks.looks[look], "look": look + 1, "looks": list(looks.looks), "ci_alpha": looks.alphas[look],
        "implementation": "torch", "gradient_steps": fig.steps}
    if cfg is None:
        return {**out, "steps": 1, "restarts": 0, "gradient": "one per row, shared by every ε of the sweep"}
    out.update({"steps": cfg.steps, "restarts": cfg.restarts, "stopping": STOPPING, "restarts_run": fig.restarts_run,
                "rows_carried_from_smaller_eps": fig.carried, "batched": "rows × every open ε in one batch",
                "shard_rows": state.setup.params.shard_rows})
    if isinstance(cfg, PGDConfig):
        out["step_size"] = 2.5 * e / max(cfg.steps, 1)
    else:
        out["loss"] = cfg.loss
    return out


def _outcome(state: NormSweep, name: str, e: float, correct: np.ndarray, details: dict[str, JSONValue]) -> Outcome:
    """On all rows: back in audit-row order with rows=None; on a prefix of the look order: rows in that order."""
    n_all, look = state.setup.u.shape[0], state.stopped[e]
    rows = state.setup.order[: correct.size]
    alpha = state.setup.looks.alphas[look]
    if correct.size == n_all:
        full = np.empty(n_all, dtype=bool)
        full[rows] = correct
        return Outcome(name, state.norm, e, full, None, details, alpha)
    return Outcome(name, state.norm, e, correct, rows, details, alpha)


def outcomes(state: NormSweep) -> list[Outcome]:
    """Each attack's outcome at each ε, then the worst case over them (AutoAttack's ensemble robust accuracy)."""
    configs = {name: cfg for name, cfg, _ in attack_plan(state.setup, state.norm)}
    out = []
    for e in state.eps:
        for name in state.names:
            correct = np.concatenate(state.figures[(name, e)].survived)
            out.append(_outcome(state, name, e, correct, _details(state, name, e, configs.get(name))))
        look = state.stopped[e]
        details = {"attacks": list(state.names), "rows": state.setup.looks.looks[look], "look": look + 1,
                   "looks": list(state.setup.looks.looks), "ci_alpha": state.setup.looks.alphas[look]}
        out.append(_outcome(state, "worst-case", e, state.worst(e), details))
    return out


def run_sweep(setup: AttackSetup, eps_by_norm: dict[str, tuple[float, ...]], fan_out: FanOutParts,
              progress: Progress) -> tuple[list[Outcome], dict[float, torch.Tensor]]:
    """Every norm's sweep; the outcomes, and PGD's L∞ points by ε (kept rows; the clean input elsewhere)."""
    found: list[Outcome] = []
    adversarial: dict[float, torch.Tensor] = {}
    for i, (norm, eps) in enumerate(eps_by_norm.items()):
        state = sweep_norm(setup, norm, eps, fan_out, lambda text, i=i: progress(i, len(eps_by_norm) + 1, text))
        found += outcomes(state)
        adversarial.update(state.points)
    return found, adversarial
