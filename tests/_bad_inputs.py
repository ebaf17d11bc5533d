"""A table of bad values for every public entry point (used by tests/test_bad_inputs.py).

Entry points: everything in ``accel.__all__``, ``accel.augment.__all__``, ``accel.data.__all__``,
``optimizers.__all__`` and ``benchmarks.datasets.__all__`` that takes arguments, with the
estimators' constructors and ``fit``/``predict``, their validation data (``validation_data``,
``eval_data``) and early stopping (``patience``, ``restore_best``), and data given as files
(bad, empty, truncated, NaN-holding ``.npy`` and Parquet files made once in a temporary
folder), all through their public API. Left out:
constants, exception classes, the ``BatchStrategy`` enum (``BatchStrategy(x)`` is Python's
enum lookup), the result records ``PerformanceMetrics``/``RankRange``/``RunningStats``
(built by the library, not by users), ``BaseOptimizer`` (abstract: its subclasses are in),
functions without arguments (``measure_memory``, ``measure_time``,
``process_memory_budget``) and ``SpeedBenchmark``'s methods (they call
``compare_backends``/``benchmark_optimizer``, which are in).

Each parameter has a *kind* holding a fixed table of bad values (the count below runs all
of them) and a hypothesis strategy drawing further ones. A case is

* ``clear``: ``ValueError`` or ``TypeError`` whose message names the parameter;
* ``unclear``: another exception, or a message that does not name it;
* ``silent``: no exception (the bad value was accepted).

``python tests/_bad_inputs.py`` prints the counts and every case that is not clear.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

NAN, INF = float("nan"), float("inf")
MAX_U64 = 2**64 - 1


@dataclasses.dataclass(frozen=True)
class Kind:
    fixed: tuple[Any, ...]
    strategy: Any  # hypothesis strategy of further bad values


def _kind(fixed, *more) -> Kind:
    return Kind(tuple(fixed), st.one_of(st.sampled_from(list(fixed)), *more))


_text = st.text(max_size=4)
_non_integral = st.floats(allow_nan=True, allow_infinity=True).filter(
    lambda f: not (math.isfinite(f) and f.is_integer())
)


def ints(lo: int | None = None, hi: int | None = None, none_ok: bool = False) -> Kind:
    fixed: list[Any] = [2.5, "3", True, [1], NAN]
    more = [_non_integral, _text, st.booleans()]
    if lo is not None:
        fixed.append(lo - 1)
        more.append(st.integers(max_value=lo - 1))
    if hi is not None:
        fixed.append(hi + 1)
        more.append(st.integers(min_value=hi + 1))
    if not none_ok:
        fixed.append(None)
    return _kind(fixed, *more)


def reals(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    none_ok: bool = False,
) -> Kind:
    fixed: list[Any] = [NAN, INF, -INF, "0.5", True, [0.1]]
    more = [_text, st.booleans(), st.sampled_from([NAN, INF, -INF])]
    if lo is not None:
        fixed.append(lo - 1.0)
        if lo_open:
            fixed.append(lo)
        more.append(st.floats(max_value=lo, exclude_max=not lo_open, allow_nan=False))
    if hi is not None:
        fixed.append(hi + max(1.0, abs(hi)))
        if hi_open:
            fixed.append(hi)
        more.append(st.floats(min_value=hi, exclude_min=not hi_open, allow_nan=False))
    if not none_ok:
        fixed.append(None)
    return _kind(fixed, *more)


def bools() -> Kind:
    return _kind(["yes", 1, 0, None, 1.0], _text, st.integers(), st.floats())


def choice(valid: tuple[str, ...], none_ok: bool = False, is_valid: Callable[[str], bool] | None = None) -> Kind:
    """A parameter taking one of ``valid``; ``is_valid`` (default: membership) tells which
    generated text is not a bad value."""
    fixed: list[Any] = ["nope", "", 3, ","]  # ',': NumPy's dtype parser raises SyntaxError
    if not none_ok:
        fixed.append(None)
    valid_text = is_valid or (lambda s: s in valid)
    return _kind(fixed, _text.filter(lambda s: not valid_text(s)), st.integers())


def dtype_choice(valid: tuple[str, ...]) -> Kind:
    """A ``dtype`` parsed the NumPy way (``jnp.dtype``, which also knows bfloat16): NumPy's
    other spellings of a valid dtype (``'d'``, ``'f8'``, ``'double'``, ``np.float64``) are
    valid too, so the generated text excludes them."""

    def spells_valid(text: str) -> bool:
        try:
            return jnp.dtype(text).name in valid
        except (TypeError, ValueError, SyntaxError):
            return False

    return choice(valid, is_valid=spells_valid)


def seeds() -> Kind:
    return ints(0, MAX_U64)


def fixed(*values) -> Kind:
    return _kind(values)


def path_like(none_ok: bool = False) -> Kind:
    values: list[Any] = [5, 1.5, b"x", ""]
    if not none_ok:
        values.append(None)
    return fixed(*values)


# ------------------------------------------------------------------------------- data
RNG = np.random.default_rng(0)
X = RNG.normal(size=(12, 3)).astype(np.float32)
Y = (X @ np.array([1.0, -1.0, 0.5], np.float32) + 0.2).astype(np.float32)


def _with(a, index, value):
    a = np.array(a)
    a[index] = value
    return a


BAD_X = fixed(
    None,
    "abc",
    1.0,
    np.ones(3, np.float32),
    np.ones((0, 3), np.float32),
    np.ones((12, 0), np.float32),
    _with(X, (0, 0), NAN),
    _with(X, (1, 1), INF),
    X.astype(np.complex64),
    np.full((12, 3), "a"),
    [[1.0, 2.0], [3.0]],
)
BAD_X_PREDICT = fixed(
    None,
    "abc",
    np.ones(3, np.float32),
    np.ones((4, 5), np.float32),
    _with(X, (0, 0), NAN),
    np.full((12, 3), "a"),
)
BAD_Y = fixed(
    None,
    "abc",
    np.ones(11, np.float32),
    _with(Y, 0, NAN),
    np.ones((12, 2, 1), np.float32),  # (n, k) is k outputs for mse
    np.full(12, "a"),
)
IMAGES = RNG.random((2, 6, 6, 3), dtype=np.float32)
BAD_IMAGES = fixed(
    None,
    [[0.5]],
    IMAGES.astype(np.float64),
    IMAGES.astype(np.int32),
    IMAGES[0, 0],
    np.zeros((2, 0, 6, 3), np.float32),
    _with(IMAGES, (0, 1, 1, 1), NAN),
)
BAD_PER_IMAGE = fixed(NAN, INF, "a", True, np.ones(3), np.array([1.0, NAN]), None)
BAD_SAMPLE_IDS = fixed(-1, 1.5, "a", [[1, 2]], 2**64, [True], [1.5], None, np.array([-1]))
BAD_CONFIG = fixed({"rotation_range": (0, 1)}, "mild", 3)
BAD_CONFIG_OR_NONE = BAD_CONFIG


class _BatchLike(dict):
    def __init__(self, n, **attrs):
        super().__init__({k: np.ones(n) for k in ("rotation", "brightness", "noise", "scale", "contrast")})
        for k, v in attrs.items():
            setattr(self, k, v)


_ROOT = tempfile.TemporaryDirectory(prefix="accel-bad-inputs-")  # removed at exit


def _tmp() -> Path:
    return Path(tempfile.mkdtemp(dir=_ROOT.name))


# ------------------------------------------------------------------------------- files
@functools.cache
def data_files() -> dict[str, str]:
    """Good and bad data files for the source entries (made once, in the table's folder)."""
    d = _tmp()
    f = {}

    def save(name, array):
        f[name] = str(d / f"{name}.npy")
        np.save(f[name], array)

    save("X", X)
    save("y", Y)
    save("X_nan", _with(X, (3, 1), NAN))
    save("y_inf", _with(Y, 5, INF))
    save("y_short", Y[:11])
    save("X_text", np.array([["a"] * 3] * 12))
    save("long", np.zeros((10, 3), np.float32))
    data = Path(f["long"]).read_bytes()  # its header rewritten to declare 4 of its 10 rows
    Path(f["long"]).write_bytes(data[:-120].replace(b"(10, 3)", b"(4, 3) ") + data[-120:])
    for name, content in (("empty", b""), ("garbage", b"not a .npy file")):
        f[name] = str(d / f"{name}.npy")
        Path(f[name]).write_bytes(content)
    f["missing"] = str(d / "missing.npy")
    f["a_file"] = str(d / "a-file")
    Path(f["a_file"]).write_text("")
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - the test extra installs pyarrow
        return f
    columns = {"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": Y}
    for name, extra in (
        ("pq", {}),
        ("pq_text", {"t": ["x"] * 12}),
        ("pq_category", {"t": pa.array(["x", "z"] * 6).dictionary_encode()}),
    ):
        f[name] = str(d / f"{name}.parquet")
        pq.write_table(pa.table({**columns, **extra}), f[name])
    return f


# ------------------------------------------------------------------------------- entries
@dataclasses.dataclass
class Entry:
    """``call(**{param: bad})`` runs the entry point with valid defaults for the rest."""

    name: str
    call: Callable[..., Any]
    params: dict[str, Kind]
    mentions: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    owner: str = "mine"  # "linear", "parallel", "optimizers": reported, not fixed here

    def names_for(self, param: str) -> tuple[str, ...]:
        return self.mentions.get(param, (param,))


def _consume(result):
    """Generators validate when first advanced: take one item."""
    if hasattr(result, "__next__"):
        next(result, None)
    return result


def entries() -> list[Entry]:
    import jax

    import accel
    import accel.augment as A
    import optimizers
    from benchmarks import datasets as D

    out: list[Entry] = []
    small = {"epochs": 2}

    # ---- accel: JAXOptimizer
    def jax_opt(**kw):
        opt = kw.pop("optimizer_type", "adam")
        return accel.JAXOptimizer(opt, **{**small, **kw}).fit(X, Y)

    common_est = {
        "learning_rate": reals(0.0, lo_open=True, none_ok=True),  # None: the optimizer's default
        "epochs": ints(1),
        "batch_size": ints(1, none_ok=True),
        "loss": choice(("mse", "logistic")),
        "fit_intercept": bools(),
        "tol": reals(0.0, none_ok=True),
        "random_state": seeds(),
        "alpha": reals(0.0),
    }
    out.append(
        Entry(
            "JAXOptimizer(...).fit",
            jax_opt,
            {
                **common_est,
                "optimizer_type": choice(("sgd", "adam", "lbfgs")),
                "use_jit": bools(),
                "dtype": dtype_choice(("float32", "float64", "bfloat16")),
                "progress": bools(),
                "device": fixed("tpu:99", 3.5, "nope"),
                "b1": reals(0.0, 1.0, hi_open=True),
                "eps": reals(0.0),
                "no_such_hyperparameter": fixed(1.0),
            },
            owner="linear",
        )
    )
    fitted_jax = functools.cache(lambda: accel.JAXOptimizer(epochs=2).fit(X, Y))
    out.append(
        Entry(
            "JAXOptimizer.fit",
            lambda **kw: accel.JAXOptimizer(epochs=2).fit(kw.get("X", X), kw.get("y", Y)),
            {"X": BAD_X, "y": BAD_Y},
            owner="linear",
        )
    )
    bad_weights = fixed(
        np.ones(len(Y) - 1), -np.ones(len(Y)), np.zeros(len(Y)), "nope", np.full(len(Y), np.nan)
    )
    for est_name, make in (
        ("JAXOptimizer", lambda: accel.JAXOptimizer(epochs=2)),
        ("ParallelTrainer", lambda: accel.ParallelTrainer(n_devices=1, epochs=2)),
        ("SGD", lambda: optimizers.SGD(epochs=2)),
    ):
        out.append(
            Entry(
                f"{est_name}.fit(sample_weight)",
                lambda make=make, **kw: make().fit(X, Y, sample_weight=kw["sample_weight"]),
                {"sample_weight": bad_weights},
                owner="linear",
            )
        )
    out.append(
        Entry(
            "JAXOptimizer.predict",
            lambda **kw: fitted_jax().predict(kw["X"]),
            {"X": BAD_X_PREDICT},
            owner="linear",
        )
    )

    # ---- accel: ParallelTrainer
    def trainer(**kw):
        return accel.ParallelTrainer(**{"n_devices": 2, "batch_size": 4, **small, **kw}).fit(X, Y)

    ckpt_file = _tmp() / "a-file"
    ckpt_file.write_text("")
    out.append(
        Entry(
            "ParallelTrainer(...).fit",
            trainer,
            {
                **common_est,
                "n_devices": ints(1, 64, none_ok=True),
                "strategy": choice(("data_parallel", "model_parallel", "pipeline_parallel")),
                "backend": choice(
                    ("pmap", "shard_map", "jit"), none_ok=True
                ),  # None: the strategy's default
                "optimizer_type": choice(("sgd", "adam")),
                "grad_accum_steps": ints(1),
                "eval_every": ints(0, none_ok=True),
                "compute_dtype": choice(("float32", "bfloat16", "float16")),
                "loss_scale": fixed("nope", -1.0, 0.0, NAN, True),
                "nan_policy": choice(("raise", "skip")),
                "checkpoint_dir": fixed(5, 1.5, b"x", "", ckpt_file),
                "checkpoint_every": ints(1, none_ok=True),
                "keep_checkpoints": ints(1),
                "progress": bools(),
                "n_microbatches": fixed(0, -1, 2.5, "2"),
                "b1": reals(0.0, 1.0, hi_open=True),
                "no_such_hyperparameter": fixed(1.0),
            },
            owner="parallel",
        )
    )
    fitted_pt = functools.cache(lambda: accel.ParallelTrainer(n_devices=2, batch_size=4, epochs=2).fit(X, Y))

    def trainer_fit(**kw):
        pt = accel.ParallelTrainer(n_devices=2, batch_size=4, epochs=2)
        return pt.fit(
            kw.get("X", X),
            kw.get("y", Y),
            resume=kw.get("resume", False),
            data_is_local=kw.get("data_is_local", False),
        )

    out.append(Entry("ParallelTrainer.fit", trainer_fit, {
        "X": BAD_X, "y": BAD_Y, "resume": bools(), "data_is_local": bools()}, owner="parallel"))
    out.append(
        Entry(
            "ParallelTrainer.predict",
            lambda **kw: fitted_pt().predict(kw["X"]),
            {"X": BAD_X_PREDICT},
            owner="parallel",
        )
    )

    def loss_fn(params, batch):
        return ((batch["x"] @ params["w"] - batch["y"]) ** 2).mean()

    good_params = {"w": np.zeros(3, np.float32)}
    good_data = {"x": X, "y": Y}

    def trainer_train(**kw):
        pt = accel.ParallelTrainer(n_devices=2, batch_size=4, epochs=2)
        return pt.train(
            kw.get("loss_fn", loss_fn),
            kw.get("params", good_params),
            kw.get("data", good_data),
            resume=kw.get("resume", False),
            augment=kw.get("augment"),
        )

    out.append(
        Entry(
            "ParallelTrainer.train",
            trainer_train,
            {
                "loss_fn": fixed(None, 3, "loss"),
                "params": fixed(None, "abc", {}, {"w": "x"}, {"w": np.full(3, NAN, np.float32)}),
                "data": fixed(
                    None, "abc", {}, {"x": X, "y": Y[:5]}, {"x": _with(X, (0, 0), NAN), "y": Y}
                ),
                "resume": bools(),
                "augment": fixed(3, "wild", 1.5, ["mild"]),
            },
            owner="parallel",
        )
    )

    # ---- validation data and early stopping (both estimators; issue 25.8)
    f = data_files()
    bad_validation = fixed(
        "abc",
        3,
        (X,),
        (X, Y, Y),
        (X[:, :2], Y),
        (X, Y[:5]),
        (_with(X, (0, 0), NAN), Y),
        (X, _with(Y, 1, INF)),
        (f["X_nan"], f["y"]),
        (f["X"], f["y_inf"]),
        (f["missing"], f["y"]),
        (f["empty"], f["y"]),
        (f["X"], f["y_short"]),
    )
    early = {"patience": ints(1, none_ok=True), "restore_best": bools()}
    for est_name, make in (
        ("JAXOptimizer", lambda **kw: accel.JAXOptimizer(**{**small, **kw})),
        (
            "ParallelTrainer",
            lambda **kw: accel.ParallelTrainer(**{"n_devices": 2, "batch_size": 4, **small, **kw}),
        ),
    ):
        out.append(
            Entry(
                f"{est_name}(patience, restore_best).fit(validation_data)",
                lambda make=make, **kw: make(**kw).fit(X, Y, validation_data=(X, Y)),
                dict(early),
                owner="linear",
            )
        )
        out.append(
            Entry(
                f"{est_name}.fit(validation_data)",
                lambda make=make, **kw: make(patience=2, restore_best=True).fit(
                    X, Y, validation_data=kw["validation_data"]
                ),
                {"validation_data": bad_validation},
                mentions={
                    "validation_data": (
                        "validation_data",
                        "X_nan.npy",
                        "y_inf.npy",
                        "missing.npy",
                        "empty.npy",
                    )
                },
                owner="linear",
            )
        )

    def train_eval(**kw):
        pt = accel.ParallelTrainer(n_devices=2, batch_size=4, epochs=2, patience=2)
        return pt.train(loss_fn, good_params, good_data, eval_data=kw["eval_data"])

    out.append(
        Entry(
            "ParallelTrainer.train(eval_data)",
            train_eval,
            {
                "eval_data": fixed(
                    "abc",
                    3,
                    {},
                    {"x": X},
                    {"x": X, "y": Y[:5]},
                    {"x": X[:, :2], "y": Y},
                    {"x": _with(X, (0, 0), NAN), "y": Y},
                    {"x": X, "y": _with(Y, 2, INF)},
                ),
            },
            owner="parallel",
        )
    )

    # ---- accel.data: sources given to fit/train (files, shards, Parquet, grain sources)
    import accel.data as data

    def file_fit(**kw):
        return accel.JAXOptimizer(epochs=2, batch_size=4).fit(kw.get("X", f["X"]), kw.get("y", f["y"]))

    out.append(
        Entry(
            "JAXOptimizer.fit(files)",
            file_fit,
            {
                "X": fixed(
                    f["X_nan"],
                    f["missing"],
                    f["empty"],
                    f["garbage"],
                    f["long"],
                    f["X_text"],
                    f["y_short"],
                ),
                "y": fixed(f["y_inf"], f["y_short"], f["missing"], f["empty"], f["X"]),
            },
            mentions={"X": ("X", "column"), "y": ("y", "column")},
            owner="linear",
        )
    )
    columns = ("column",)  # the sources name the column (or its file) at fault
    out.append(
        Entry(
            "ArraySource",
            lambda **kw: data.ArraySource(**kw),
            {
                "columns": fixed(
                    None,
                    {},
                    [X],
                    "X",
                    {"X": X, "y": Y[:5]},
                    {"X": np.float32(1.0)},
                    {"X": np.array(["a"] * 12)},
                    {"X": np.empty(3, object)},
                ),
            },
            mentions={"columns": columns},
        )
    )
    out.append(
        Entry(
            "NpyShards",
            lambda **kw: data.NpyShards(**kw),
            {
                "columns": fixed(
                    None,
                    {},
                    {"X": 3},
                    {"X": []},
                    {"X": f["missing"]},
                    {"X": [f["missing"]]},
                    {"X": f["empty"]},
                    {"X": f["garbage"]},
                    {"X": f["long"]},
                    {"X": f["X_text"]},
                    {"X": f["X"], "y": f["y_short"]},
                ),
            },
            mentions={"columns": columns},
        )
    )
    if "pq" in f:
        def parquet(**kw):
            return data.ParquetShards(**{"files": f["pq"], "cache_dir": _tmp(), **kw})

        out.append(
            Entry(
                "ParquetShards",
                parquet,
                {
                    "files": fixed(
                        None,
                        3,
                        [],
                        f["missing"],
                        [f["missing"]],
                        f["pq_text"],
                        f["pq_category"],
                        f["X"],
                    ),
                    "target": fixed("nope", 3, None, "t"),
                    "features": fixed(["a", "y"], ["zz"], "ab", 3, ["a", 3]),
                    "cache_dir": fixed(f["a_file"], 3),
                },
                mentions={
                    "files": ("files", "parquet"),
                    "target": ("target",),
                    "features": ("feature",),
                    "cache_dir": ("cache_dir",),
                },
            )
        )

    class Records:  # grain's RandomAccessDataSource protocol, with a bad record at index 3
        def __init__(self, bad):
            self.bad = bad

        def __len__(self):
            return 12

        def __getitem__(self, i):
            return self.bad if i == 3 else {"X": X[i], "y": Y[i]}

    def grain_fit(**kw):
        return accel.JAXOptimizer(epochs=2, batch_size=4).fit(data.RandomAccessSource(kw["obj"]))

    out.append(
        Entry(
            "RandomAccessSource",
            grain_fit,
            {
                "obj": fixed(
                    None,
                    3,
                    object(),
                    Records({"X": X[3]}),
                    Records({"X": X[3, :2], "y": Y[3]}),
                    Records({"X": _with(X[3], 0, NAN), "y": Y[3]}),
                    Records("abc"),
                    Records({"X": np.array(["a"] * 3), "y": Y[3]}),
                ),
            },
            mentions={"obj": ("obj", "record", "column", "source")},
        )
    )
    src = data.ArraySource({"X": X, "y": Y})
    out.append(
        Entry(
            "Throttled",
            lambda **kw: data.Throttled(kw.get("source", src), kw.get("seconds_per_read", 0.0)),
            {"source": fixed(None, 3, [1, 2], X), "seconds_per_read": reals(0.0)},
        )
    )
    out.append(
        Entry(
            "WrappedSource",
            lambda **kw: data.WrappedSource(kw["source"]),
            {"source": fixed(None, 3, [1, 2], X)},
        )
    )
    out.append(
        Entry(
            "as_source",
            lambda **kw: data.as_source(kw.get("X", f["X"]), kw.get("y", f["y"])),
            {
                "X": fixed(None, 3, "abc", f["missing"], f["empty"], f["garbage"]),
                "y": fixed(3, "abc", f["missing"], f["empty"], f["y_short"]),
            },
            mentions={"X": ("X",), "y": ("y",)},
        )
    )

    # ---- accel: profilers and benchmarks (mine)
    out.append(
        Entry(
            "GPUMonitor",
            lambda **kw: accel.GPUMonitor(**kw),
            {"device_id": ints(0), "interval": reals(0.0, lo_open=True)},
        )
    )
    out.append(
        Entry(
            "PerformanceProfiler",
            lambda **kw: accel.PerformanceProfiler(**kw),
            {"sync": bools(), "devices": fixed(3, "cpu", [3])},
        )
    )

    def section(**kw):
        with accel.PerformanceProfiler().profile(kw.pop("name", "step"), **kw):
            pass

    out.append(
        Entry(
            "PerformanceProfiler.profile",
            section,
            {"name": fixed(3, None, ""), "sync": fixed("yes", 1, 1.0)},
        )
    )
    out.append(
        Entry(
            "OptimizerProfiler",
            lambda **kw: accel.OptimizerProfiler(**kw),
            {
                "optimizer": fixed(3, "adam"),
                "interval": reals(0.0, lo_open=True),
                "trace_python": bools(),
                "device": fixed("tpu:99", 3.5),
            },
        )
    )
    out.append(
        Entry(
            "MemoryTracker.estimate_optimizer_memory",
            lambda **kw: accel.MemoryTracker.estimate_optimizer_memory(
                **{"n_params": 10, "optimizer_type": "adam", **kw}
            ),
            {
                "n_params": ints(1),
                "optimizer_type": choice(("sgd", "adam")),
                "dtype": fixed("int3", 3, "nope", ","),
            },
        )
    )
    out.append(
        Entry(
            "MemoryTracker.track_array",
            lambda **kw: accel.MemoryTracker().track_array(kw.get("name", "w"), kw.get("array", X)),
            {"name": fixed(3, None, ""), "array": fixed(None, "abc", 3)},
        )
    )

    class Est:
        def fit(self, X, y):
            self.coef_, self.n_epochs_ = np.zeros(3), 1
            self.history_ = {"loss": [1.0, 0.5]}
            return self

    def bench_opt(**kw):
        return accel.benchmark_optimizer(
            kw.get("optimizer", Est()),
            kw.get("X", X),
            kw.get("y", Y),
            kw.get("config"),
            kw.get("n_runs", 1),
        )

    out.append(
        Entry(
            "benchmark_optimizer",
            bench_opt,
            {
                "optimizer": fixed(3, None, "adam"),
                "X": fixed(None, np.ones(3), np.ones((0, 3))),
                "y": fixed(np.ones(11), np.ones((12, 2))),
                "config": fixed([1], "x", 3),
                "n_runs": ints(1),
            },
            mentions={"X": ("X",), "y": ("y",)},
        )
    )

    def compare(**kw):
        return accel.compare_backends(
            kw.get("operation", lambda A: A.sum()),
            kw.get("data_numpy", X),
            kw.get("backends", ("numpy",)),
            kw.get("n_runs", 1),
            kw.get("warmup", 0),
            kw.get("dtype"),
        )

    out.append(
        Entry(
            "compare_backends",
            compare,
            {
                "operation": fixed(None, 3, "sum"),
                "data_numpy": fixed(None, "abc", (), [[1.0]], 3.0),
                "backends": fixed("numpy", (), ("tpu",), ("numpy", "numpy"), None, 3),
                "n_runs": ints(1),
                "warmup": ints(0),
                "dtype": fixed("int32", "nope", 3, ","),
            },
        )
    )

    # ---- accel.augment
    ranges = {f"{n}_range": fixed((1, 0), (NAN, 1), (0, INF), (1,), "ab", (True, 2), None)
              for n in A.PARAM_NAMES}
    ranges["scale_range"] = fixed(*ranges["scale_range"].fixed, (-1.0, 0.0), (0.0, 1.0))
    ranges["noise_range"] = fixed(*ranges["noise_range"].fixed, (-0.1, 0.1))
    out.append(
        Entry(
            "AugmentationConfig",
            lambda **kw: A.AugmentationConfig(**kw),
            {**ranges, "augmentation_depth": ints(1)},
        )
    )
    batch = A.gen_augmentation_batch([1, 2])

    def aug_batch(**kw):
        args = {
            "values": batch.to_numpy(),
            "sample_ids": batch.sample_ids,
            "seed": 0,
            "epoch": 0,
            "algorithm": batch.algorithm,
            "config": batch.config,
            **kw,
        }
        return A.AugmentationBatch(args.pop("values"), args.pop("sample_ids"), **args)

    out.append(
        Entry(
            "AugmentationBatch",
            aug_batch,
            {
                "values": fixed(
                    None, {"rotation": np.ones(2)}, {n: np.ones(3) for n in A.PARAM_NAMES}, 3
                ),
                "sample_ids": fixed(
                    None,
                    np.array([-1, 2]),
                    np.array([1.5, 2.0]),
                    np.ones((2, 1), np.uint64),
                    [1, 2],
                ),
                "seed": fixed(-1, 1.5, "a"),
                "epoch": fixed(-1, 1.5, "a"),
                "algorithm": fixed("nope", 3),
                "config": BAD_CONFIG,
            },
        )
    )
    out.append(
        Entry(
            "BatchConfig",
            lambda **kw: A.BatchConfig(**kw),
            {
                "batch_size": ints(1),
                "max_memory_mb": reals(0.0, lo_open=True, none_ok=True),
                "min_batch_size": ints(1),
                "max_batch_size": ints(1),
                "num_buckets": ints(1),
                "memory_fraction": reals(0.0, 1.0, lo_open=True),
                "growth": reals(1.0, lo_open=True),
                "tolerance": reals(0.0, 1.0, hi_open=True),
                "strategy": choice(("sequential",), none_ok=True),
            },
        )
    )
    out.append(
        Entry(
            "BatchProcessor",
            lambda **kw: A.BatchProcessor(
                kw.get("strategy", "sequential"),
                kw.get("config"),
                **({"clock": kw["clock"]} if "clock" in kw else {}),
            ),
            {
                "strategy": choice(("sequential",)),
                "config": fixed({"batch_size": 3}, 3, "x"),
                "clock": fixed(3, "now"),
            },
        )
    )
    out.append(
        Entry(
            "BenchmarkConfig",
            lambda **kw: A.BenchmarkConfig(**kw),
            {
                "iterations": ints(1),
                "warmup_iterations": ints(0),
                "measure_memory": bools(),
                "algorithm": choice(A.ALGORITHMS, none_ok=True),
            },
        )
    )
    out.append(
        Entry(
            "BenchmarkRunner",
            lambda **kw: A.BenchmarkRunner(**kw),
            {"config": fixed({"iterations": 3}, 3, "x")},
        )
    )
    out.append(
        Entry(
            "DistributedRangeSplitter",
            lambda **kw: A.DistributedRangeSplitter(**{"total_samples": 10, "world_size": 2, **kw}),
            {"total_samples": ints(0), "world_size": ints(1), "mode": choice(A.SPLIT_MODES)},
        )
    )
    keys = A.noise_keys([0, 1], 0, 0)
    for op, extra in (
        (
            A.rotate_and_scale,
            {"rotation": BAD_PER_IMAGE, "scale": fixed(*BAD_PER_IMAGE.fixed, 0.0, -1.0)},
        ),
        (A.adjust_brightness, {"factor": BAD_PER_IMAGE}),
        (A.adjust_contrast, {"factor": BAD_PER_IMAGE}),
        (
            A.add_noise,
            {
                "std": fixed(*BAD_PER_IMAGE.fixed, -0.1),
                "key": fixed(None, "k", np.zeros((2, 2), np.int32), keys[:1]),
            },
        ),
    ):
        defaults = {"rotation": 0.0, "scale": 1.0, "factor": 1.0, "std": 0.1, "key": keys}
        names = ["images", *extra]
        out.append(
            Entry(
                op.__name__,
                lambda op=op, names=names, defaults=defaults, **kw: op(
                    kw.get("images", IMAGES), *[kw.get(n, defaults[n]) for n in names[1:]]
                ),
                {"images": BAD_IMAGES, **extra},
            )
        )
    out.append(
        Entry(
            "apply_augmentations",
            lambda **kw: A.apply_augmentations(
                kw.get("images", IMAGES),
                kw.get("batch", A.gen_augmentation_batch([1, 2])),
                seed=kw.get("seed"),
            ),
            {
                "images": BAD_IMAGES,
                "seed": fixed(-1, 1.5, "a", 2**64),
                "batch": fixed(
                    None,
                    [1, 2],
                    {"rotation": np.ones(2)},
                    _BatchLike(2),
                    _BatchLike(3, sample_ids=np.arange(3, dtype=np.uint64), seed=0, epoch=0),
                ),
            },
        )
    )
    hi, lo = np.zeros(2, np.uint32), np.arange(2, dtype=np.uint32)
    key = jax.random.key(0)
    out.append(
        Entry(
            "augmentation_params",
            lambda **kw: A.augmentation_params(
                kw.get("key", key), kw.get("ids_hi", hi), kw.get("ids_lo", lo), kw.get("config")
            ),
            {
                "key": fixed(None, "k", 3),
                "ids_hi": fixed(np.ones(2), np.zeros(3, np.uint32), "a"),
                "ids_lo": fixed(np.ones(2), np.zeros(3, np.uint32), "a"),
                "config": BAD_CONFIG,
            },
        )
    )
    out.append(
        Entry(
            "compute_statistics",
            lambda **kw: A.compute_statistics(kw["params_or_stream"]),
            {
                "params_or_stream": fixed(
                    [], [1, 2], "abc", None, 3, {n: np.array([NAN]) for n in A.PARAM_NAMES}
                )
            },
            mentions={"params_or_stream": ("compute_statistics",)},
        )
    )
    sample_kw = {
        "config": BAD_CONFIG,
        "seed": seeds(),
        "epoch": ints(0, 2**32 - 1),
        "algorithm": choice(A.ALGORITHMS, none_ok=True),
    }
    out.append(
        Entry(
            "gen_augmentation_batch",
            lambda **kw: A.gen_augmentation_batch(kw.pop("sample_ids", [1, 2]), **kw),
            {"sample_ids": BAD_SAMPLE_IDS, **sample_kw},
        )
    )
    out.append(
        Entry(
            "dpa_draws",
            lambda **kw: A.dpa_draws(kw.pop("sample_ids", [1, 2]), **kw),
            {"sample_ids": BAD_SAMPLE_IDS, "depth": ints(1, 1000), "prefix": fixed(3, None, b"x")},
        )
    )
    out.append(
        Entry(
            "dpa_draw",
            lambda **kw: A.dpa_draw(kw.pop("sample_id", 1), **kw),
            {"sample_id": ints(0, MAX_U64), "depth": ints(1, 1000), "prefix": fixed(3, None, b"x")},
        )
    )
    out.append(
        Entry(
            "gen_augmentation_params",
            lambda **kw: A.gen_augmentation_params(kw.pop("sample_id", 1), **kw),
            {"sample_id": ints(0, MAX_U64), **sample_kw},
        )
    )
    out.append(
        Entry(
            "gen_distributed_augmentation_params",
            lambda **kw: A.gen_distributed_augmentation_params(
                kw.pop("sample_id", 1), kw.pop("rank", 0), kw.pop("world_size", 2), **kw
            ),
            {
                "sample_id": ints(0, MAX_U64),
                "rank": ints(0, 1),
                "world_size": ints(1),
                "base_seed": ints(0, MAX_U64, none_ok=True),
                **sample_kw,
            },
        )
    )
    out.append(
        Entry(
            "generate_augmentation_chain",
            lambda **kw: A.generate_augmentation_chain(kw.pop("num_samples", 2), **kw),
            {
                "num_samples": ints(0),
                "save_path": path_like(none_ok=True),
                "verbose": bools(),
                "start_id": ints(0, MAX_U64 - 1),
                **sample_kw,
            },
        )
    )
    out.append(
        Entry(
            "TrainingAugmentation",
            lambda **kw: A.TrainingAugmentation(**kw),
            {"config": fixed(1.0, "wild", None, ["mild"]), "leaf": fixed("", 3, None),
             "algorithm": choice(A.ALGORITHMS)},
        )
    )
    out.append(
        Entry(
            "get_preset",
            lambda **kw: A.get_preset(kw["name"]),
            {"name": choice(("mild",))},
            mentions={"name": ("preset",)},
        )
    )
    garbage = _tmp() / "garbage.json"
    garbage.write_text("[1, 2]")
    out.append(
        Entry(
            "load_augmentation_chain",
            lambda **kw: A.load_augmentation_chain(kw["path"]),
            {"path": fixed(5, None, 1.5, garbage)},
            mentions={"path": ("path", str(garbage))},
        )
    )
    good_aug = _tmp() / "p.aug"
    A.save_augmentation_chain(A.gen_augmentation_batch([1, 2]), good_aug)
    out.append(
        Entry(
            "load_augmentation_stream",
            lambda **kw: _consume(
                A.load_augmentation_stream(
                    kw.get("path", good_aug),
                    kw.get("chunk_size", 10),
                    verify=kw.get("verify", True),
                )
            ),
            {"path": fixed(5, None, garbage), "chunk_size": ints(1), "verify": bools()},
            mentions={"path": ("path", str(garbage))},
        )
    )
    out.append(
        Entry(
            "noise_keys",
            lambda **kw: A.noise_keys(
                kw.get("sample_ids", [1, 2]), kw.get("seed", 0), kw.get("epoch", 0)
            ),
            {"sample_ids": BAD_SAMPLE_IDS, "seed": seeds(), "epoch": ints(0, 2**32 - 1)},
        )
    )
    rec = {"sample_id": 0, "rotation": 0.0, "brightness": 1.0, "noise": 0.0, "scale": 1.0, "contrast": 1.0}
    out.append(
        Entry(
            "save_augmentation_chain",
            lambda **kw: A.save_augmentation_chain(
                kw.get("params", [rec]),
                kw.get("path", _tmp() / "out.json"),
                kw.get("config"),
                include_stats=kw.get("include_stats", True),
                format=kw.get("format"),
            ),
            {
                "params": fixed(
                    3,
                    "abc",
                    {"a": 1},
                    [{"rotation": 1.0}],
                    [dict(rec, sample_id=1.5)],
                    [dict(rec, sample_id=-1)],
                    [dict(rec, rotation="x")],
                    [dict(rec, noise=NAN)],
                ),
                "path": path_like(),
                "config": BAD_CONFIG,
                "include_stats": bools(),
                "format": choice(("json", "binary"), none_ok=True),
            },
            mentions={"params": ("params", "sample_id", "rotation", "noise", "per-sample dict")},
        )
    )
    stream_kw = {**sample_kw, "chunk_size": ints(1, none_ok=True)}
    out.append(
        Entry(
            "stream_augmentation_chain",
            lambda **kw: _consume(A.stream_augmentation_chain(kw.pop("num_samples", 3), **kw)),
            {
                "num_samples": fixed(-1, 1.5, "3", True, NAN, -INF),
                "start_id": ints(0, MAX_U64),
                **stream_kw,
            },
        )
    )
    out.append(
        Entry(
            "stream_augmentation_range",
            lambda **kw: _consume(
                A.stream_augmentation_range(kw.pop("start_id", 0), kw.pop("end_id", 3), **kw)
            ),
            {
                "start_id": fixed(-1, 1.5, "3", True, None, 5),
                "end_id": fixed(-1, 1.5, "3", True, None, 2**64 + 1),
                **stream_kw,
            },
            mentions={"start_id": ("start_id", "end_id"), "end_id": ("end_id",)},
        )
    )
    out.append(
        Entry(
            "stream_distributed_augmentation_chain",
            lambda **kw: _consume(
                A.stream_distributed_augmentation_chain(
                    kw.pop("num_samples", 4), kw.pop("rank", 0), kw.pop("world_size", 2), **kw
                )
            ),
            {
                "num_samples": ints(0),
                "rank": ints(0, 1),
                "world_size": ints(1),
                "mode": choice(A.SPLIT_MODES),
                "base_seed": ints(0, MAX_U64, none_ok=True),
                **stream_kw,
            },
        )
    )

    # ---- optimizers (NumPy reference); a hyperparameter set to None takes its default
    def hp(lo, hi=None, **kw):
        return reals(lo, hi, none_ok=True, **kw)

    hyper = {
        "SGD": {},
        "MomentumSGD": {"momentum": hp(0.0, 1.0, hi_open=True)},
        "NesterovMomentum": {"momentum": hp(0.0, 1.0, hi_open=True)},
        "AdaGrad": {"initial_accumulator_value": hp(0.0), "eps": hp(0.0)},
        "RMSProp": {"decay": hp(0.0, 1.0, hi_open=True), "eps": hp(0.0)},
        "Adam": {
            "b1": hp(0.0, 1.0, hi_open=True),
            "b2": hp(0.0, 1.0, hi_open=True),
            "eps": hp(0.0),
        },
        "AdamW": {"b1": hp(0.0, 1.0, hi_open=True), "weight_decay": hp(0.0)},
    }
    for name, extra in hyper.items():
        cls = getattr(optimizers, name)
        fitted = functools.cache(lambda cls=cls: cls(epochs=2).fit(X, Y))
        out.append(
            Entry(
                f"{name}(...).fit",
                lambda cls=cls, **kw: cls(**{**small, **kw}).fit(X, Y),
                {
                    **common_est,
                    "learning_rate": reals(0.0, lo_open=True),  # no None: a number or schedule
                    "verbose": bools(),
                    "dtype": dtype_choice(("float32", "float64")),
                    **extra,
                },
                owner="optimizers",
            )
        )
        out.append(
            Entry(
                f"{name}.fit",
                lambda cls=cls, **kw: cls(**small).fit(kw.get("X", X), kw.get("y", Y)),
                {"X": BAD_X, "y": BAD_Y},
                owner="optimizers",
            )
        )
        out.append(
            Entry(
                f"{name}.predict",
                lambda fitted=fitted, **kw: fitted().predict(kw["X"]),
                {"X": BAD_X_PREDICT},
                owner="optimizers",
            )
        )

    # ---- benchmarks.datasets
    out.append(
        Entry(
            "generate_highdim_regression",
            lambda **kw: D.generate_highdim_regression(**{"n_samples": 20, "n_features": 4, **kw}),
            {
                "n_samples": ints(2),
                "n_features": ints(2),
                "condition_number": reals(1.0, 1e16),
                "n_informative": ints(1, 4, none_ok=True),
                "noise": reals(0.0),
                "seed": seeds(),
            },
        )
    )
    out.append(
        Entry(
            "generate_extreme_condition_data",
            lambda **kw: D.generate_extreme_condition_data(
                **{"n_samples": 20, "n_features": 4, **kw}
            ),
            {
                "n_samples": ints(2),
                "n_features": ints(2),
                "target_kappa": reals(1.0, 1e16),
                "condition_type": choice(D.CONDITION_TYPES),
                "noise": reals(0.0),
                "seed": seeds(),
            },
        )
    )
    empty = _tmp()
    split = {"test_size": reals(0.0, 1.0, lo_open=True, hi_open=True), "seed": seeds(), "normalize": bools()}
    out.append(
        Entry(
            "load_california_housing",
            lambda **kw: D.load_california_housing(**{"data_dir": empty, "download": False, **kw}),
            {"data_dir": fixed(5, 1.5, ""), "download": bools(), **split},
        )
    )
    out.append(Entry("load_diabetes", lambda **kw: D.load_diabetes(**kw), dict(split)))
    out.append(Entry("load_digits_binary", lambda **kw: D.load_digits_binary(**kw), dict(split)))
    out.append(Entry("load_digits", lambda **kw: D.load_digits(**kw), dict(split)))
    out.append(
        Entry(
            "load_digit_images",
            lambda **kw: D.load_digit_images(**{"source": "digits", "n_samples": 8, **kw}),
            {"source": choice(D.IMAGE_SOURCES), "n_samples": ints(1, none_ok=True), "seed": seeds(),
             "download": bools()},
        )
    )
    out.append(
        Entry(
            "load_mnist",
            lambda **kw: D.load_mnist(**{"data_dir": empty, "download": False, **kw}),
            {
                "n_samples": ints(1, none_ok=True),
                "binary_classification": bools(),
                "normalize": bools(),
                "data_dir": fixed(5, 1.5, ""),
                "download": bools(),
            },
        )
    )
    return out


# ------------------------------------------------------------------------------- known
# Found by this table in code other engineers own (accel/linear, accel/parallel, optimizers,
# accel/augment/_generate.py): reported to them, not fixed here. Each is (entry, param,
# predicate on the bad value). test_bad_inputs.py checks that they still fail, so a fix
# shows up as a failing test that asks for the entry to be removed.
def _any(value: Any) -> bool:
    return True


def _is_none(value: Any) -> bool:
    return value is None


def _is_one(value: Any) -> bool:
    return isinstance(value, float) and value == 1.0


def _has_nan(value: Any) -> bool:
    arrays = value.values() if isinstance(value, dict) else ()
    return any(isinstance(a, np.ndarray) and a.dtype.kind == "f" and np.isnan(a).any() for a in arrays)


OPTIMIZER_CLASSES = ("SGD", "MomentumSGD", "NesterovMomentum", "AdaGrad", "RMSProp", "Adam", "AdamW")
KNOWN: list[tuple[str, str, Callable[[Any], bool], str]] = [
    # (all reported problems are fixed; a new one gets a row here with its reason)
]


def known(entry: str, param: str, value: Any) -> str | None:
    """Why this case is a known, reported problem (``None`` if it is not one)."""
    for e, p, pred, why in KNOWN:
        if e == entry and p == param and pred(value):
            return why
    return None


# ------------------------------------------------------------------------------- running
@dataclasses.dataclass(frozen=True)
class Outcome:
    entry: str
    param: str
    value: str
    kind: str  # clear / unclear / silent
    detail: str

    def __str__(self) -> str:
        return f"{self.entry}({self.param}={self.value}): {self.kind}: {self.detail}"


def short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array{list(value.shape)}:{value.dtype}" + (":nan" if value.dtype.kind == "f" and np.isnan(value).any() else "")
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def no_network() -> None:
    """The loaders must never reach the network here, even if a bad `download` is accepted."""
    from benchmarks.datasets import _cache

    def refuse(url, timeout):
        raise OSError(f"network access attempted in a bad-input test: {url}")

    _cache._open_url = refuse


def run_case(entry: Entry, param: str, value: Any) -> Outcome:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            entry.call(**{param: value})
    except (ValueError, TypeError) as exc:
        text = str(exc)
        named = any(n in text for n in entry.names_for(param))
        kind = "clear" if named else "unclear"
        return Outcome(entry.name, param, short(value), kind, f"{type(exc).__name__}: {text[:160]}")
    except Exception as exc:
        return Outcome(entry.name, param, short(value), "unclear", f"{type(exc).__name__}: {str(exc)[:160]}")
    return Outcome(entry.name, param, short(value), "silent", "accepted")


def run_all(table: list[Entry]) -> list[Outcome]:
    return [run_case(e, p, v) for e in table for p, kind in e.params.items() for v in kind.fixed]


def main() -> None:
    os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")
    no_network()
    outcomes = run_all(entries())
    counts = {k: sum(o.kind == k for o in outcomes) for k in ("clear", "unclear", "silent")}
    print(f"cases tried: {len(outcomes)}; clear errors: {counts['clear']}; "
          f"unclear errors: {counts['unclear']}; silent acceptances: {counts['silent']}")
    for o in outcomes:
        if o.kind != "clear":
            print(" ", o)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
