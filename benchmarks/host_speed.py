"""A fixed reference workload timed beside each speed target, so figures from different hosts can be read together.

The same code ran mnist-cnn's full preset in 51-79 s on one 2-core cloud host and in 126-172 s on another: a wall
time alone does not say whether the audit got slower or the host did (or was busy for a while). The reference is
two small fixed workloads on one thread: a pure-Python loop (the interpreter's speed: dispatch, bookkeeping) and
mnist-cnn's forward pass on 167 perturbed test images (the kernels every image audit spends most of its time in).
Each is the median of several repeats; a benchmark records it before and after its timed run, and a gap between the
two says the host's speed changed during the run. The forward pass runs the project's own layers (its pooling,
audit.models.pooling), so compare its readings between runs of the same code; the loop's, between any.
"""

from __future__ import annotations

import statistics
import time

import torch

from audit.threads import torch_threads

LOOP_ITERATIONS = 2_000_000
FORWARD_ROWS = 167  # fixed, so the reference does not move with the code (one cache-sized pass of mnist-cnn today)


def _python_loop_s() -> float:
    start = time.perf_counter()
    total = 0
    for i in range(LOOP_ITERATIONS):
        total += i & 7
    return time.perf_counter() - start


def _cnn_forward_ms(repeats: int) -> float:
    from audit.models.zoo import load_zoo_model

    model, data = load_zoo_model("mnist-cnn")
    module = model.module.eval()
    x = torch.as_tensor(data.test.x[:FORWARD_ROWS]).float()
    x = (x + 0.1 * torch.sign(torch.randn(x.shape, generator=torch.Generator().manual_seed(0)))).clamp(0, 1)
    times = []
    with torch.no_grad():
        for i in range(repeats + 3):
            start = time.perf_counter()
            module(x)
            if i >= 3:  # the first passes allocate and warm the caches
                times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def host_reference(repeats: int = 15) -> dict[str, float]:
    """The reference workload's medians on one thread (the mnist-cnn zoo model is trained on first use)."""
    with torch_threads(1):
        return {"python_loop_2m_s": round(statistics.median(_python_loop_s() for _ in range(3)), 3),
                "mnist_cnn_forward_167_ms": round(_cnn_forward_ms(repeats), 2)}
