"""Test helper: stand-ins for timing and profiling tests (accel.bench, accel.profile): fake
clocks whose time moves only when a test says so, a small sklearn-style optimizer, an
operation that is sometimes slow, and a fake ``pynvml``."""

from __future__ import annotations

import types

import numpy as np

MB = 1 << 20
TICK = 2.0**-10  # about 1 ms; a power of two, so every fake duration below is exact


class ManualClock:
    """A clock that reads ``now``; the test moves ``now`` itself (``clock.now += 0.5``)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeClock:
    """Stands in for ``accel.bench._clock``: time moves only when the code under test says so.

    Each reading returns the time, then moves it on by one ``TICK`` (so nothing takes zero
    time); ``advance(s)`` is work of ``s`` seconds done between readings; ``sleep(s)`` is
    logged, not waited. ``events`` logs every reading as ``"clock"`` (tests add their own events),
    so a test sees exactly what happened inside the clock. All values are dyadic: the
    durations the harness reports are exact, compared with ``==``.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.events: list = []
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        self.events.append("clock")
        t = self.now
        self.now += TICK
        return t

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.events.append("sleep")


class StandInGD:
    """Full-batch gradient descent on the MSE of a linear model, sklearn-style like the
    project's optimizers (history_['loss'] at init then per epoch, n_epochs_, get_params)."""

    def __init__(self, learning_rate: float = 0.1, max_iter: int = 5) -> None:
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.n_fits = 0

    def get_params(self) -> dict:
        return {"learning_rate": self.learning_rate, "max_iter": self.max_iter}

    def _loss(self, X, y, w):
        r = X @ w - y
        return float(r @ r / (2 * len(y)))

    def fit(self, X, y):
        self.n_fits += 1
        w = np.zeros(X.shape[1])
        losses = [self._loss(X, y, w)]
        for _ in range(self.max_iter):
            w = w - self.learning_rate * X.T @ (X @ w - y) / len(y)
            losses.append(self._loss(X, y, w))
        self.coef_, self.history_, self.n_epochs_ = w, {"loss": losses}, self.max_iter
        return self


def sometimes_slow_numpy(clock: FakeClock, slow_call: int, seconds: float = 0.25):
    """``sum(X * X)``; on NumPy each call takes 1/64 s of ``clock``'s time, the
    ``slow_call``-th ``seconds`` more (a loaded machine); JAX's calls take one tick."""
    calls = [0]

    def op(X, xp):
        if isinstance(X, np.ndarray):
            calls[0] += 1
            clock.advance(1 / 64 + (seconds if calls[0] == slow_call else 0.0))
        return xp.sum(X * X)

    return op


def fake_pynvml(power_mw, count=1, supports_power=True, energy_mj=None):
    """A stand-in ``pynvml`` module: ``count`` "Fake GPU"s drawing ``power_mw`` mW (or
    refusing to say, ``supports_power=False``), an energy counter that moves by
    ``energy_mj`` mJ between two reads (absent when None), memory used cycling 1, 2, 3 MiB;
    ``state['init']`` counts nvmlInit calls not yet shut down."""
    nvml = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    class NVMLError_NotSupported(NVMLError):
        pass

    nvml.NVMLError, nvml.NVMLError_NotSupported = NVMLError, NVMLError_NotSupported
    nvml.NVML_TEMPERATURE_GPU = 0
    nvml.state = {"init": 0}
    nvml.nvmlInit = lambda: nvml.state.__setitem__("init", nvml.state["init"] + 1)
    nvml.nvmlShutdown = lambda: nvml.state.__setitem__("init", nvml.state["init"] - 1)
    nvml.nvmlDeviceGetCount = lambda: count
    nvml.nvmlDeviceGetHandleByIndex = lambda i: f"handle{i}"
    nvml.nvmlDeviceGetName = lambda h: b"Fake GPU"
    nvml.nvmlSystemGetDriverVersion = lambda: "580.00"
    reads = iter(range(10**9))
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=MB * (1 + next(reads) % 3))
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=50)
    nvml.nvmlDeviceGetTemperature = lambda h, sensor: 61

    def power(h):
        if not supports_power:
            raise NVMLError_NotSupported()
        return power_mw

    nvml.nvmlDeviceGetPowerUsage = power
    energy = iter([1000.0, 1000.0 + (energy_mj or 0)])

    def total_energy(h):
        if energy_mj is None:
            raise NVMLError_NotSupported()
        return next(energy)

    nvml.nvmlDeviceGetTotalEnergyConsumption = total_energy
    return nvml
