"""A stage bounded by ``max_steps`` runs exactly that many steps on a schedule set by steps alone, whatever
the machine's speed (the step-bounded experiment configs rely on it)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch", reason="the training loop needs torch (the 'train' extra)")

from radfound.training.loop import StageClock  # noqa: E402


def test_max_steps_ends_the_stage_and_sets_the_schedule():
    clock = StageClock(seconds=3600.0, max_steps=40, lr=1e-3)  # an hour: time never binds here
    rates = []
    for _ in range(100):  # bounded: a broken step limit fails here instead of running for an hour
        if clock.done():
            break
        rates.append(clock.rate())
        clock.step += 1
    assert clock.step == 40
    assert rates[0] == pytest.approx(1e-3 * 0.02)  # warm-up starts at 2% of the rate
    assert rates[2] == pytest.approx(1e-3)  # warm-up (5% = 2 steps) is over: the cosine's top
    assert rates[-1] == pytest.approx(1e-3 * (0.1 + 0.45 * (1 + math.cos(math.pi * (39 / 40 - 0.05) / 0.95))))
    assert rates == sorted(rates[:3]) + sorted(rates[3:], reverse=True)


def test_without_max_steps_the_time_budget_ends_the_stage():
    clock = StageClock(seconds=0.0, max_steps=None, lr=1e-3)
    assert not clock.done()  # at least one step, even on an exhausted budget
    clock.step = 1
    assert clock.done()
