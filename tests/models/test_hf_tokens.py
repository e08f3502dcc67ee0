"""Token drops on tokenised rows (the label-only attack's perturbation for text classifiers)."""

from __future__ import annotations

import torch

from audit.models.hf_tokens import drop_tokens


def _rows() -> torch.Tensor:
    ids = torch.tensor([[2, 10, 11, 12, 3, 0, 0], [2, 20, 21, 22, 23, 24, 3]])
    mask = (torch.arange(7) < torch.tensor([[5], [7]])).long()
    return torch.stack([ids, mask], dim=1).float()


def test_no_drops_at_rate_zero_and_only_the_ends_at_rate_one():
    x = _rows()
    assert torch.equal(drop_tokens(x, 0.0, torch.Generator().manual_seed(0)), x)
    everything = drop_tokens(x, 1.0, torch.Generator().manual_seed(0))
    assert everything[:, 0, :2].tolist() == [[2, 3], [2, 3]]  # [CLS] and [SEP] stay, closed up to the left
    assert everything[:, 1].sum(dim=1).tolist() == [2, 2] and everything[:, 0, 2:].abs().sum() == 0  # re-padded


def test_kept_tokens_keep_their_order():
    x = _rows()
    out = drop_tokens(x, 0.5, torch.Generator().manual_seed(3))
    for row_in, row_out in zip(x, out, strict=True):
        kept = row_out[0][row_out[1] > 0].long().tolist()
        original = row_in[0][row_in[1] > 0].long().tolist()
        assert kept[0] == original[0] and kept[-1] == original[-1]
        it = iter(original)
        assert all(token in it for token in kept)  # a subsequence of the original
