"""A language stage's ``vision_lr_scale``: the study encoder learns at that fraction of the rate,
the decoder at all of it."""

from __future__ import annotations

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from radfound.errors import ConfigError  # noqa: E402
from radfound.modeling.checkpoint import build_model  # noqa: E402
from radfound.training.inputs import Inputs  # noqa: E402
from radfound.training.loop import Batcher, StageClock, _optimizer, optimizer_step, train_language  # noqa: E402
from radfound.training.samples import Pool  # noqa: E402


def _pool(side: int) -> Pool:
    pool = Pool()
    rng = np.random.default_rng(0)
    for i in range(2):
        key = f"image:{i}"
        pool.inputs[key] = Inputs(rng.random((1, 1, side, side), dtype=np.float32), np.zeros(1, np.int64),
                                  np.zeros(1, np.int64), lambda x, y, view=0: (x, y))
        pool.add("vqa", key, "Is there a mass?", "Yes" if i else "No")
    return pool


def _snapshot(module) -> list:
    return [p.detach().clone() for p in module.parameters()]


def _moved(before, module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


@pytest.mark.parametrize("scale, vision_moves", [(0.0, False), (1.0, True)])
def test_the_scale_reaches_the_vision_encoder_only(scale, vision_moves):
    model, tok = build_model("tiny", seed=0)
    model.train()
    pool = _pool(model.config.vision.image_size)
    vision, decoder = _snapshot(model.vision), _snapshot(model.decoder)
    stage = {"lr": 1e-3, "batch_studies": 2, "rows_per_study": 1, "max_steps": 3, "vision_lr_scale": scale}
    out = train_language(model, pool, Batcher(tok, model.config.vision.num_image_tokens, 16), stage, 600.0,
                         random.Random(0), 0.0, {"vqa": 1.0}, "instruct", lambda _: None)
    assert out["steps"] == 3
    assert _moved(decoder, model.decoder)
    assert _moved(vision, model.vision) is vision_moves


def test_each_group_gets_the_clock_rate_times_its_scale():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    opt = _optimizer(list(a.parameters()) + list(b.parameters()), 1e-3, 0.05, scaled=b.parameters(), lr_scale=0.25)
    clock = StageClock(600.0, 10, 1e-3)
    loss = a(torch.ones(1, 2)).sum() + b(torch.ones(1, 2)).sum()
    expected = clock.rate()  # the step's rate, read before the step advances the clock
    optimizer_step(opt, list(a.parameters()) + list(b.parameters()), loss, clock, [], lambda _: None, "t")
    rates = {(g["lr_scale"], g["weight_decay"]): g["lr"] for g in opt.param_groups}
    assert set(rates) == {(1.0, 0.05), (1.0, 0.0), (0.25, 0.05), (0.25, 0.0)}  # matrices decay, biases do not
    assert rates[(0.25, 0.05)] == pytest.approx(0.25 * rates[(1.0, 0.05)])
    assert rates[(1.0, 0.0)] == pytest.approx(expected)


def test_a_negative_scale_is_a_config_error():
    model, tok = build_model("tiny", seed=0)
    stage = {"lr": 1e-3, "batch_studies": 2, "rows_per_study": 1, "max_steps": 1, "vision_lr_scale": -0.5}
    with pytest.raises(ConfigError, match="instruct: vision_lr_scale must be 0 or more"):
        train_language(model, _pool(model.config.vision.image_size),
                       Batcher(tok, model.config.vision.num_image_tokens, 16), stage, 600.0,
                       random.Random(0), 0.0, {"vqa": 1.0}, "instruct", lambda _: None)
