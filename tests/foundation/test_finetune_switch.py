"""The fine-tuning switch of adult-text-minilm is read from the environment (frozen by default)."""

import pytest

from audit.foundation.reference import default_finetune


@pytest.mark.parametrize("value, expected", [(None, False), ("1", True), ("true", True), ("0", False)])
def test_default_finetune(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv("AUDIT_TEXT_FINETUNE", raising=False)
    else:
        monkeypatch.setenv("AUDIT_TEXT_FINETUNE", value)
    assert default_finetune() is expected
