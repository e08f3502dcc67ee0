"""The zoo CNN's 2x2 max-pooling (audit.models.pooling) against torch's own, bit for bit, on hostile values."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from audit.models import pooling
from audit.models.architectures import MnistCNN
from audit.models.pooling import MaxPool2d, max_pool_2x2
from audit.suites.explainability.deeplift import _chain

SHAPES = [(50, 3, 9, 11), (7, 16, 28, 28), (1, 1, 2, 2), (2, 5, 3, 2), (2, 3, 64, 130)]  # 130: ATen vector loops


def _hostile(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Ties, signed zeros, NaN, ±inf, subnormals and an all -inf window: where pooling kernels can disagree."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    x[x.abs() < 0.5] = 0.0
    for value, share in ((-0.0, 0.1), (float("nan"), 0.03), (float("inf"), 0.03), (float("-inf"), 0.03),
                         (1e-40, 0.03)):
        x[torch.rand(shape, generator=g) < share] = value
    x[..., 0:2, 0:2] = float("-inf")
    return x.to(dtype)


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit patterns (so signed zeros count), NaN where the other has NaN (bfloat16 kernels differ in the NaN
    they write, which no reader can tell apart)."""
    a, b = a.detach().contiguous(), b.detach().contiguous()
    nan = a.isnan()
    if not torch.equal(nan, b.isnan()):
        return False
    as_int = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
    return torch.equal(a.masked_fill(nan, 0).view(as_int), b.masked_fill(nan, 0).view(as_int))


@pytest.fixture(params=[1, 2], ids=["one-thread", "two-threads"])
def threads(request):
    """One thread takes the compiled loops (float32), two ATen's channels-last kernel and the pairwise maxima."""
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def test_one_thread_takes_the_compiled_loops(threads):
    x = torch.rand(3, 2, 6, 6)
    assert pooling._use_kernel(x) == (threads == 1)
    assert not pooling._use_kernel(x.double()) and not pooling._use_kernel(x.transpose(2, 3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("shape", SHAPES)
def test_values_and_gradients_match_torch_bit_for_bit(shape, dtype, threads):
    x = _hostile(shape, dtype, seed=len(shape) + shape[-1])
    ours_in, torch_in = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, reference = max_pool_2x2(ours_in), F.max_pool2d(torch_in, 2)
    grad = torch.randn(reference.shape, generator=torch.Generator().manual_seed(1)).to(dtype)
    grad[grad.abs() < 0.2] = -0.0
    ours.backward(grad)
    reference.backward(grad)
    with torch.no_grad():
        no_grad = max_pool_2x2(x)
    assert _same_bits(ours, reference)
    assert _same_bits(no_grad, reference)
    assert _same_bits(ours_in.grad, torch_in.grad)
    assert ours.is_contiguous() and ours_in.grad.is_contiguous()


@pytest.mark.parametrize("strided", [True, False])
def test_strided_input_and_second_derivative_match_torch(strided, threads):
    x = torch.randn(4, 2, 6, 7, generator=torch.Generator().manual_seed(2))
    x = (x.transpose(2, 3) if strided else x).requires_grad_()
    results = []
    for pool in (max_pool_2x2, lambda t: F.max_pool2d(t, 2)):
        (first,) = torch.autograd.grad(pool(x).pow(3).sum(), x, create_graph=True)
        (second,) = torch.autograd.grad(first.sum(), x)
        results.append((pool(x).detach(), first.detach(), second))
    for ours, reference in zip(*results, strict=True):
        assert torch.equal(ours, reference)
    with torch.no_grad():  # the pairwise maxima read strided views of a strided input
        assert _same_bits(max_pool_2x2(_hostile((3, 4, 7, 10), torch.float32, 3).transpose(2, 3)),
                          F.max_pool2d(_hostile((3, 4, 7, 10), torch.float32, 3).transpose(2, 3), 2))


def test_other_pooling_settings_and_inputs_use_torch_itself():
    layer = MaxPool2d(3, stride=1, padding=1)
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(layer(x), F.max_pool2d(x, 3, 1, 1))
    unbatched = torch.randn(3, 8, 8)
    assert torch.equal(max_pool_2x2(unbatched), F.max_pool2d(unbatched, 2))
    traced = torch.jit.trace(MaxPool2d(2), torch.randn(1, 1, 4, 4))
    assert "max_pool2d" in str(traced.graph) and "channels_last" not in str(traced.graph)


def test_the_cnn_is_the_same_network_to_its_readers():
    """Weights files, DeepLIFT's layer rules (keyed by class name, as shap's are) and the privacy shadows' layer
    walk see an ordinary MaxPool2d, and the forward hooks DeepLIFT relies on still fire."""
    model = MnistCNN().eval()
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 2 and all(type(m).__name__ == "MaxPool2d" for m in pools)
    assert list(model.state_dict()) == [f"{part}.{i}.{kind}" for part, i in (("features", 0), ("features", 3),
                                                                            ("head", 1), ("head", 3))
                                        for kind in ("weight", "bias")]
    head = type("Head", (), {"module": model})()
    chain = _chain(head, torch.rand(1, 1, 28, 28))
    assert chain is not None and sum(isinstance(m, nn.MaxPool2d) for m in chain) == 2


def test_the_cnn_gives_the_logits_and_input_gradients_of_torch_pooling():
    torch.manual_seed(0)
    model = MnistCNN().eval()
    x = torch.rand(33, 1, 28, 28).mul_(torch.rand(33, 1, 28, 28) > 0.6).requires_grad_()

    def plain(t: torch.Tensor) -> torch.Tensor:
        for layer in model.features:
            t = F.max_pool2d(t, 2) if isinstance(layer, nn.MaxPool2d) else layer(t)
        return model.head(t)

    for forward in (model, plain):
        logits = forward(x)
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, torch.arange(33) % 10), x)
        if forward is model:
            ours = (logits.detach(), grad)
        else:
            assert torch.equal(ours[0], logits.detach()) and torch.equal(ours[1], grad)


def test_without_the_compiled_loops_and_in_inference_mode_the_bits_are_the_same(monkeypatch):
    """numba missing (or failing to compile) leaves ATen's paths; inference-mode tensors take the loops too."""
    x = _hostile((5, 4, 12, 10), torch.float32, seed=7)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            assert _same_bits(max_pool_2x2(x), F.max_pool2d(x, 2))
        monkeypatch.setattr(pooling, "_kernel", lambda: None)
        assert not pooling._use_kernel(x)
        leaf = x.clone().requires_grad_()
        reference = x.clone().requires_grad_()
        max_pool_2x2(leaf).sum().backward()
        F.max_pool2d(reference, 2).sum().backward()
        assert _same_bits(leaf.grad, reference.grad)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_a_narrow_transposed_image_with_a_signed_zero_tie(dtype, threads):
    """Two columns stored as rows: a window's two rows lie side by side in memory, where ATen's vector loop could
    take the pairs (its +0/-0 tie keeps the second operand; the scan keeps the first)."""
    image = torch.zeros(1, 1, 2, 34, dtype=dtype).transpose(2, 3)  # (1, 1, 34, 2), strided
    image[0, 0, 20:22] = torch.tensor([[-0.0, 0.0], [0.0, -0.5]], dtype=dtype)
    with torch.no_grad():
        assert _same_bits(max_pool_2x2(image), F.max_pool2d(image, 2))
