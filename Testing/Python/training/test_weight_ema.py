"""The instruction stage's weight average: the arithmetic of an EMA, and the model ends on the average."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from radfound.training.loop import WeightEMA  # noqa: E402


def test_ema_follows_the_recurrence_and_is_copied_back():
    model = nn.Linear(1, 1, bias=False)
    ema = WeightEMA(model, 0.5)
    expected = None
    for value in (4.0, 0.0, 2.0):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update(model)
        expected = value if expected is None else 0.5 * expected + 0.5 * value  # first update copies
    assert expected == 2.0  # 4 -> 2 -> 2
    assert model.weight.item() == 2.0  # updating the average leaves the live weights alone
    with torch.no_grad():
        model.weight.fill_(10.0)
    ema.copy_to(model)
    assert model.weight.item() == pytest.approx(expected)


def test_the_average_is_a_copy_not_the_live_model():
    model = nn.Linear(2, 2)
    ema = WeightEMA(model, 0.9)
    ema.update(model)
    with torch.no_grad():
        model.weight.add_(1.0)
    assert not torch.equal(ema.average.module.weight, model.weight)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.1, 1.5])
def test_a_decay_outside_0_1_is_refused(decay):
    with pytest.raises(ValueError, match="ema_decay"):
        WeightEMA(nn.Linear(1, 1), decay)
