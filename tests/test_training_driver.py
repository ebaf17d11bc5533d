"""The one host driver (issue 22, item 1): every fit runs through ``accel.train.drive``, and
the driver's decisions (where calls end, checkpoints, validation, halting, stopping, the
history) are the same whatever the feed.

The estimator tests count the driver's calls and the feed it was given; the rule tests drive
a fake feed that records the segments it is asked to run, so they check the decisions
themselves, without compiling anything.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest
from _helpers import linear32, mlp_mse

import accel.train
from accel import JAXOptimizer, ParallelTrainer
from accel.data import ArraySource
from accel.train import Boundaries, Report, Resident, Run, RunHistory, Streamed, drive

# ----- every entry point, one driver -------------------------------------------------------


@pytest.fixture
def driven(monkeypatch):
    """The feeds ``accel.train.drive`` was called with, in order."""
    feeds: list[Any] = []

    def counting(feed, carry, run, g=0):
        feeds.append(feed)
        return drive(feed, carry, run, g)

    monkeypatch.setattr(accel.train, "drive", counting)
    return feeds


def _fit_jax(streamed):
    X, y = linear32(64, 3)
    data = (ArraySource({"X": X, "y": y}),) if streamed else (X, y)
    return JAXOptimizer("adam", learning_rate=0.05, epochs=3, batch_size=16).fit(*data)


def _fit_parallel(streamed):
    X, y = linear32(64, 3)
    data = (ArraySource({"X": X, "y": y}),) if streamed else (X, y)
    return ParallelTrainer(n_devices=2, epochs=3, batch_size=16, learning_rate=0.05).fit(*data)


def _train_parallel(streamed):
    rng = np.random.default_rng(0)
    data = {
        "x": rng.normal(size=(64, 3)).astype(np.float32),
        "y": rng.normal(size=64).astype(np.float32),
    }
    params = {
        "w1": np.zeros((3, 4), np.float32),
        "b1": np.zeros(4, np.float32),
        "w2": np.full(4, 0.1, np.float32),
        "b2": np.zeros((), np.float32),
    }
    source = ArraySource(data) if streamed else data
    return ParallelTrainer(n_devices=2, epochs=3, batch_size=16).train(mlp_mse, params, source)


@pytest.mark.parametrize("streamed", [False, True], ids=["resident", "streamed"])
@pytest.mark.parametrize(
    "entry",
    [_fit_jax, _fit_parallel, _train_parallel],
    ids=["JAXOptimizer.fit", "ParallelTrainer.fit", "ParallelTrainer.train"],
)
def test_every_fit_runs_through_the_one_driver(driven, entry, streamed):
    entry(streamed)
    assert len(driven) == 1
    assert isinstance(driven[0], Streamed if streamed else Resident)


def test_a_diverged_jax_fit_reruns_the_same_program_through_the_driver(driven):
    X, y = linear32(64, 3)
    with pytest.warns(accel.train.DivergenceWarning):
        model = JAXOptimizer("sgd", learning_rate=3.0, epochs=20).fit(X, y)  # grows ~4x an epoch
    # the program stops AT the diverged epoch; the driver runs it again to the epoch before
    assert model.diverged_ and len(driven) == 2 and model.n_epochs_ > 0
    assert len(model.history_["loss"]) == model.n_epochs_ + 1
    assert np.all(np.isfinite(model.coef_))


def test_a_jax_fit_diverged_in_its_first_epoch_keeps_the_initial_state(driven):
    X, y = linear32(64, 3)
    with pytest.warns(accel.train.DivergenceWarning):
        model = JAXOptimizer("sgd", learning_rate=1e3, epochs=20).fit(X * 100, y)
    # nothing to run again: the initial state and its evaluation are the result
    assert model.diverged_ and len(driven) == 1 and model.n_epochs_ == 0
    assert len(model.history_["loss"]) == 1 and np.isfinite(model.history_["loss"][0])
    assert np.all(model.coef_ == 0) and model.intercept_ == 0


def test_a_streamed_jax_fit_shows_progress(capsys):
    X, y = linear32(64, 3)
    JAXOptimizer(epochs=4, batch_size=16, progress=True).fit(ArraySource({"X": X, "y": y}))
    assert "4/4" in capsys.readouterr().err


# ----- the driver's rules, on a fake feed -----------------------------------------------------


class _Carry(NamedTuple):
    step: int


class _Feed:
    """Moves the step to wherever it is asked; reports an epoch boundary at each epoch end
    (loss 1/epoch), a stop at ``stop_at``, a non-finite loss at ``bad_at``."""

    def __init__(self, on_host=False, stop_at=None, bad_at=None):
        self.evaluates_on_host = on_host
        self.stop_at, self.bad_at = stop_at, bad_at
        self.segments: list[tuple[int, int]] = []

    def start(self, carry):
        if self.evaluates_on_host and carry.step == 0:
            return carry, Report(0, -1, False, False, 1.0, Boundaries.one(0, 1.0, 1.0, 0), 0.0, 0.0)
        return carry, None

    def advance(self, carry, g, g1, S):
        self.segments.append((g, g1))
        bad = self.bad_at if self.bad_at is not None and g < self.bad_at <= g1 else -1
        epochs = np.arange(g // S + 1, g1 // S + 1)
        ends = Boundaries(
            g // S + 1, 1.0 / epochs, np.zeros(len(epochs)), np.zeros(len(epochs), int)
        )
        stopped = self.stop_at is not None and g1 >= self.stop_at
        return _Carry(g1), Report(g1, bad, stopped, False, 0.5, ends, wall_s=1.0, wait_s=0.25)

    def host(self, carry):
        return carry

    def params(self, carry):
        return {"at": carry.step}


def _run(S=3, epochs=4, **kw):
    return Run(RunHistory.empty(epochs), total=epochs * S, S=S, **kw)


def test_calls_end_at_the_periods_asked_and_at_epoch_ends_for_a_host_evaluating_feed():
    resident, streamed = _Feed(), _Feed(on_host=True)
    drive(resident, _Carry(0), _run(every=(4,)))
    drive(streamed, _Carry(0), _run(every=(4,)))
    assert [g1 for _, g1 in resident.segments] == [4, 8, 12]
    assert [g1 for _, g1 in streamed.segments] == [3, 4, 6, 8, 9, 12]


def test_history_gets_every_boundary_and_the_calls_wall_time_spread_over_epochs():
    run = _run(every=(4,))
    drive(_Feed(on_host=True), _Carry(0), run)
    assert run.hist.losses.tolist() == [1.0, 1.0, 0.5, 1 / 3, 0.25]
    # six calls of 1 s: epoch 0 is [0, 3); epoch 1 is [3, 4) and [4, 6); epoch 2 [6, 8), [8, 9)
    assert run.hist.epoch_time.tolist() == [1.0, 2.0, 2.0, 1.0]
    assert run.hist.wait_time.tolist() == [0.25, 0.5, 0.5, 0.25]


def test_checkpoints_at_their_period_and_at_the_end():
    saved = []
    drive(_Feed(), _Carry(0), _run(checkpoint_every=5, save=lambda c, h: saved.append(c.step)))
    assert saved == [5, 10, 12]


def test_a_stopping_rule_ends_the_run_with_a_checkpoint():
    saved, feed = [], _Feed(stop_at=6)
    drive(
        feed,
        _Carry(0),
        _run(every=(3,), checkpoint_every=100, save=lambda c, h: saved.append(c.step)),
    )
    assert feed.segments == [(0, 3), (3, 6)] and saved == [6]


def test_a_non_finite_loss_halts_before_any_checkpoint():
    saved, halted = [], []

    def halt(carry, bad):
        halted.append((carry.step, bad))
        raise FloatingPointError(f"step {bad}")

    run = _run(every=(3,), checkpoint_every=3, save=lambda c, h: saved.append(c.step), halt=halt)
    with pytest.raises(FloatingPointError, match="step 5"):
        drive(_Feed(bad_at=5), _Carry(0), run)
    assert saved == [3] and halted == [(6, 5)]


class _Validate:
    def __init__(self, patience_epoch=None, stopped_before=False):
        self.calls, self.patience_epoch, self.stopped_before = [], patience_epoch, stopped_before

    def __call__(self, epoch, params):
        self.calls.append((epoch, params["at"]))
        return epoch == self.patience_epoch

    def stopped(self, epoch):
        return self.stopped_before


def test_validation_after_every_epoch_and_patience_stops_the_run():
    validate, feed = _Validate(patience_epoch=2), _Feed()
    drive(feed, _Carry(0), _run(validate=validate))
    assert validate.calls == [(1, 3), (2, 6)]
    assert feed.segments == [(0, 3), (3, 6)]


def test_a_resumed_run_that_early_stopping_had_ended_does_not_run():
    feed = _Feed()
    out = drive(feed, _Carry(6), _run(validate=_Validate(stopped_before=True)), g=6)
    assert out == _Carry(6) and feed.segments == []


def test_a_feed_that_diverges_at_its_initial_evaluation_runs_nothing():
    class Diverged(_Feed):
        def start(self, carry):
            return carry, Report(
                0, -1, False, True, float("nan"), Boundaries.one(0, np.nan, 0.0, 0), 0.0, 0.0
            )

    feed, saved = Diverged(on_host=True), []
    run = _run(checkpoint_every=3, save=lambda c, h: saved.append(c.step))
    drive(feed, _Carry(0), run)
    assert feed.segments == [] and np.isnan(run.hist.losses[0])
    assert saved == [0]  # the stopped run's checkpoint, as after any stopping rule


def test_resident_step_times_count_the_device_work_not_the_dispatch(monkeypatch):
    """``history_['step_time']`` measures the device's work (issue 27 item 3): a resident
    call's time runs until its outputs are on the host. On a fake clock, dispatching a call
    takes 1 ms and the host's wait for its outputs (the device computing) 5 s."""
    from types import SimpleNamespace

    from accel.train import _driver

    clock = [0.0]
    monkeypatch.setattr(_driver, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    S, epochs = 4, 3

    def call(carry, data, key, hyper, stop):  # asynchronous dispatch: returns at once
        clock[0] += 0.001
        curve = np.zeros((2, 1 + epochs))
        counts = np.array([stop, -1, 0, 0, *[0] * epochs])
        return _Carry(int(stop)), (curve, counts)

    def get(outputs):  # waits for the device
        clock[0] += 5.0
        return outputs

    feed = Resident(call, None, None, None, put_stop=int, get=get, params=lambda c, e: None)
    run = _run(S=S, epochs=epochs)
    drive(feed, _Carry(0), run)
    history = run.hist.as_dict(epochs, n_rows=40, S=S, loss_scale=1.0)
    assert np.isclose(history["step_time"].sum() * S, 5.001)  # one call of the 3 epochs
    assert np.allclose(history["samples_per_s"], 40 / (5.001 / epochs))
