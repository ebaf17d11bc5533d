"""The one table of optimizers: names, hyperparameters (optax's names) and defaults.

Used by the NumPy reference classes (``optimizers``), ``JAXOptimizer`` and ``ParallelTrainer``,
so a default changes in exactly one place.

============  =====================================================  ============================================
name          optax transformation                                   hyperparameters (defaults)
============  =====================================================  ============================================
``sgd``       ``optax.sgd(lr)``                                      -
``momentum``  ``optax.sgd(lr, momentum)``                            ``momentum=0.9``
``nesterov``  ``optax.sgd(lr, momentum, nesterov=True)``             ``momentum=0.9``
``adagrad``   ``optax.adagrad(lr, initial_accumulator_value, eps)``  ``initial_accumulator_value=0.1, eps=1e-7``
``rmsprop``   ``optax.rmsprop(lr, decay, eps)`` (eps inside sqrt)    ``decay=0.9, eps=1e-8``
``adam``      ``optax.adam(lr, b1, b2, eps)``                        ``b1=0.9, b2=0.999, eps=1e-8``
``adamw``     ``optax.adamw(lr, b1, b2, eps, weight_decay, mask)``   ``b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01``
``lbfgs``     ``optax.lbfgs(lr)`` (zoom line search, memory 10)      ``gtol=1e-5, ftol=2.220446049250313e-09`` (``JAXOptimizer`` only, full batch)
============  =====================================================  ============================================

:data:`OPTIMIZER_NAMES` are the first-order optimizers every estimator runs (the NumPy
classes, ``ParallelTrainer``). ``lbfgs`` (:data:`LINESEARCH_OPTIMIZERS`) needs the objective
itself for its line search, so only ``JAXOptimizer`` offers it, on the full batch; its
``lr`` multiplies the quasi-Newton direction before the line search (optax's
``learning_rate``: the first step the search tries), and the search then picks the step.
Its hyperparameters are its stopping rules, scipy's ``L-BFGS-B`` ones with scipy's defaults
(``accel.train._loop``): it stops when ``max_i |g_i| <= gtol`` or when
``(L_{e-1} - L_e) / max(|L_{e-1}|, |L_e|, 1) <= ftol``, and an iteration that raises the
loss is undone (the run ends at its lowest loss).

Parameters of the linear model are the pytree ``{'w': array (d,), 'b': array ()}``
(``b`` is the intercept; it is always present and stays 0 when ``fit_intercept=False``
because its gradient is then exactly zero), or one vector ``[w..., b]`` (``flat=True`` of
:func:`transformation_factory`: every rule of the table is element-wise, so the updates are
the same numbers). For ``adamw`` the intercept is masked out of the weight decay when
``fit_intercept=True`` (in the vector form: a decay rate of 0 in the intercept's entry).

Example:
    >>> import jax.numpy as jnp
    >>> from accel.train._optax import make_optimizer
    >>> tx = make_optimizer("adam", 0.01, True, b2=0.99)
    >>> params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    >>> state = tx.init(params)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import jax.numpy as jnp
import optax

from accel._checks import check_positive_real
from accel._fingerprint import fingerprint

__all__ = [
    "ALL_HYPERPARAMETERS",
    "DEFAULT_LEARNING_RATE",
    "HYPERPARAMETERS",
    "LBFGS_STOPPING",
    "LINESEARCH_OPTIMIZERS",
    "OPTIMIZER_NAMES",
    "build_transformation",
    "check_hyperparameters",
    "check_learning_rate",
    "check_optimizer_name",
    "check_rate_for",
    "decay_mask",
    "learning_rate_in_effect",
    "make_optimizer",
    "program_settings",
    "transformation_factory",
]

HYPERPARAMETERS: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "sgd": MappingProxyType({}),
        "momentum": MappingProxyType({"momentum": 0.9}),
        "nesterov": MappingProxyType({"momentum": 0.9}),
        "adagrad": MappingProxyType({"initial_accumulator_value": 0.1, "eps": 1e-7}),
        "rmsprop": MappingProxyType({"decay": 0.9, "eps": 1e-8}),
        "adam": MappingProxyType({"b1": 0.9, "b2": 0.999, "eps": 1e-8}),
        "adamw": MappingProxyType({"b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 0.01}),
    }
)
OPTIMIZER_NAMES: tuple[str, ...] = tuple(HYPERPARAMETERS)
# optimizers whose update calls the objective (a line search): JAXOptimizer, full batch only
LINESEARCH_OPTIMIZERS: tuple[str, ...] = ("lbfgs",)
# L-BFGS's own stopping rules: scipy's L-BFGS-B defaults (pgtol 1e-5, factr 1e7 * eps)
LBFGS_STOPPING: Mapping[str, float] = MappingProxyType({"gtol": 1e-5, "ftol": 1e7 * 2.220446049250313e-16})
_OWN: Mapping[str, Mapping[str, float]] = MappingProxyType({**HYPERPARAMETERS, "lbfgs": LBFGS_STOPPING})
# learning_rate=None: 0.01 for the first-order optimizers; for lbfgs 1.0, the line search's
# first trial step (optax's default). The same for JAXOptimizer and ParallelTrainer.
DEFAULT_LEARNING_RATE: Mapping[str, float] = MappingProxyType(
    {**{name: 0.01 for name in OPTIMIZER_NAMES}, "lbfgs": 1.0}
)
# every hyperparameter name of every optimizer
ALL_HYPERPARAMETERS: frozenset[str] = frozenset(k for h in _OWN.values() for k in h)

# Allowed range of each hyperparameter: (low, low inclusive, high, high inclusive).
_RANGES: Mapping[str, tuple[float, bool, float, bool]] = MappingProxyType(
    {
        "momentum": (0.0, True, 1.0, False),  # 1.0: no damping, the steps never shrink
        "initial_accumulator_value": (0.0, True, math.inf, False),
        "eps": (0.0, True, math.inf, False),
        "decay": (0.0, True, 1.0, False),  # 1.0: the second moment never moves
        "b1": (0.0, True, 1.0, False),
        "b2": (0.0, True, 1.0, False),
        "weight_decay": (0.0, True, math.inf, False),
        "gtol": (0.0, True, math.inf, False),
        "ftol": (0.0, True, math.inf, False),
    }
)


def check_learning_rate(learning_rate: object) -> Any:
    """A number > 0, or a schedule (callable step -> learning rate), returned unchanged."""
    if callable(learning_rate):
        return learning_rate
    return check_positive_real(learning_rate, "learning_rate")


def check_optimizer_name(
    name: object, argument: str = "optimizer", names: tuple[str, ...] = OPTIMIZER_NAMES
) -> str:
    """A name of ``names`` (default :data:`OPTIMIZER_NAMES`); errors name ``argument``
    (``'optimizer_type'`` for the estimators)."""
    if not isinstance(name, str):
        raise TypeError(
            f"{argument} must be one of {names} or an optax.GradientTransformation, "
            f"got {type(name).__name__}"
        )
    if name not in names:
        raise ValueError(f"unknown {argument} {name!r}; expected one of {names}")
    return name


def _check_value(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{key} must be a real number, got {type(value).__name__}")
    value = float(value)
    lo, lo_incl, hi, hi_incl = _RANGES[key]
    ok = math.isfinite(value) and (value >= lo if lo_incl else value > lo)
    ok = ok and (value <= hi if hi_incl else value < hi)
    if not ok:
        interval = f"{'[' if lo_incl else '('}{lo:g}, {hi:g}{']' if hi_incl else ')'}"
        raise ValueError(f"{key} must be in {interval}, got {value}")
    return value


def check_hyperparameters(name: str, **hyper: object) -> dict[str, float]:
    """The full hyperparameter dict of optimizer ``name``: defaults overridden by ``hyper``.

    Raises ``ValueError`` for an unknown optimizer, ``TypeError`` for a hyperparameter the
    optimizer does not have (the message lists the ones it has) or a non-number, and
    ``ValueError`` for a value out of range (e.g. a negative ``weight_decay``).
    """
    name = check_optimizer_name(name, names=tuple(_OWN))
    defaults = _OWN[name]
    unknown = sorted(set(hyper) - set(defaults))
    if unknown:
        raise TypeError(
            f"optimizer {name!r} has no hyperparameter {', '.join(map(repr, unknown))}; "
            f"its hyperparameters are {tuple(defaults) or '()'}"
        )
    return {key: _check_value(key, hyper.get(key, default)) for key, default in defaults.items()}


def decay_mask(params: Mapping[str, Any]) -> dict[str, bool]:
    """Weight-decay mask of the ``{'w', 'b'}`` pytree: every leaf except the intercept ``'b'``."""
    return {key: key != "b" for key in params}


def build_transformation(
    name: str,
    learning_rate: Any,
    fit_intercept: bool,
    hyper: Mapping[str, Any],
    flat_size: int | None = None,
    intercepts: int = 1,
) -> optax.GradientTransformation:
    """The optax transformation of ``name`` WITHOUT validation.

    ``learning_rate`` and the values in ``hyper`` may be traced arrays (so one compiled
    program serves every value); ``hyper`` must hold all of the optimizer's hyperparameters.
    ``flat_size``: the parameters are one vector ``[w..., b...]`` of this size, its last
    ``intercepts`` entries the intercepts (not the ``{'w', 'b'}`` pytree). Call
    :func:`make_optimizer` for the validated public entry point.
    """
    if name == "sgd":
        return optax.sgd(learning_rate)
    if name == "momentum":
        return optax.sgd(learning_rate, momentum=hyper["momentum"])
    if name == "nesterov":
        return optax.sgd(learning_rate, momentum=hyper["momentum"], nesterov=True)
    if name == "adagrad":
        return optax.adagrad(
            learning_rate,
            initial_accumulator_value=hyper["initial_accumulator_value"],
            eps=hyper["eps"],
        )
    if name == "rmsprop":
        return optax.rmsprop(learning_rate, decay=hyper["decay"], eps=hyper["eps"])
    if name == "adam":
        return optax.adam(learning_rate, b1=hyper["b1"], b2=hyper["b2"], eps=hyper["eps"])
    if name == "adamw":
        decay, mask = hyper["weight_decay"], decay_mask if fit_intercept else None
        if flat_size is not None:  # one vector: the intercepts' entries decay at rate 0
            keep = jnp.arange(flat_size) < (flat_size - intercepts if fit_intercept else flat_size)
            decay, mask = decay * keep.astype(jnp.result_type(decay)), None
        return optax.adamw(
            learning_rate, b1=hyper["b1"], b2=hyper["b2"], eps=hyper["eps"],
            weight_decay=decay, mask=mask,
        )  # fmt: skip
    if name == "lbfgs":
        return optax.lbfgs(learning_rate)
    raise ValueError(f"unknown optimizer {name!r}; expected one of {OPTIMIZER_NAMES}")


def transformation_factory(
    optimizer: str | optax.GradientTransformation,
    learning_rate: Any,
    fit_intercept: bool,
    flat_size: int | None = None,
    intercepts: int = 1,
) -> Any:
    """``make_tx(values) -> optax transformation`` for a compiled program: the learning rate
    (``values['learning_rate']``, unless ``learning_rate`` is a schedule) and the
    optimizer's hyperparameters come in as (traced) ``values``, so one program serves every
    value. A ready-made transformation is returned as it is. ``flat_size``, ``intercepts``:
    see :func:`build_transformation`. The returned function has a hashable ``key`` attribute:
    programs built from equal keys are interchangeable (a transformation and a schedule
    count by what they compute, ``accel._fingerprint``)."""
    schedule = learning_rate if callable(learning_rate) else None

    def make_tx(values: Mapping[str, Any]) -> optax.GradientTransformation:
        if not isinstance(optimizer, str):
            return optimizer
        rate = schedule if schedule is not None else values["learning_rate"]
        own = {k: values[k] for k in _OWN[optimizer]}
        return build_transformation(optimizer, rate, fit_intercept, own, flat_size, intercepts)

    # what the transformation and schedule compute, not the objects: an equal optax
    # expression written again reuses the program
    make_tx.key = (fingerprint(optimizer), fingerprint(schedule), fit_intercept, flat_size, intercepts)  # type: ignore[attr-defined]
    return make_tx


def make_optimizer(
    optimizer: str | optax.GradientTransformation,
    learning_rate: Any = 0.01,
    fit_intercept: bool = True,
    **hyper: object,
) -> optax.GradientTransformation:
    """An optax transformation for the ``{'w': (d,), 'b': ()}`` parameters of the linear model.

    Args:
        optimizer: a name from :data:`OPTIMIZER_NAMES`, or any ``optax.GradientTransformation``
            (returned as is; it carries its own learning rate, so ``learning_rate`` is then
            ignored and ``hyper`` must be empty).
        learning_rate: a number > 0 or an optax schedule (callable step -> rate).
        fit_intercept: with ``True`` the intercept ``'b'`` is excluded from ``adamw``'s
            weight decay (with ``False`` it is 0 with a zero gradient, so the mask is moot).
        **hyper: the optimizer's own hyperparameters (optax names; defaults in
            :data:`HYPERPARAMETERS`).

    Raises:
        ValueError: unknown optimizer name, learning_rate <= 0, hyperparameter out of range.
        TypeError: unknown hyperparameter, non-numeric value, hyperparameters given with a
            ready-made transformation.
    """
    if isinstance(optimizer, optax.GradientTransformation):
        if hyper:
            raise TypeError(
                "hyperparameters "
                f"{', '.join(map(repr, sorted(hyper)))} cannot be applied to a ready-made "
                "optax.GradientTransformation; set them when building it"
            )
        return optimizer
    values = check_hyperparameters(optimizer, **hyper)
    return build_transformation(optimizer, check_learning_rate(learning_rate), fit_intercept, values)


def learning_rate_in_effect(optimizer: str | optax.GradientTransformation, learning_rate: Any) -> Any:
    """``learning_rate`` as given (a number or a schedule), or for ``None`` the optimizer's
    default (:data:`DEFAULT_LEARNING_RATE`; ``0.0``, unused, for a ready-made transformation).

    Example:
        >>> learning_rate_in_effect("adam", None), learning_rate_in_effect("lbfgs", None)
        (0.01, 1.0)
        >>> learning_rate_in_effect("adam", 0.5)
        0.5
    """
    if learning_rate is not None:
        return learning_rate
    return DEFAULT_LEARNING_RATE.get(optimizer, 0.0) if isinstance(optimizer, str) else 0.0


def check_rate_for(optimizer: str | optax.GradientTransformation, rate: Any) -> None:
    """``learning_rate`` as an estimator's setting: ``None`` (the default), a number > 0 or a
    schedule; ``None`` only with a ready-made transformation, which carries its own."""
    if isinstance(optimizer, optax.GradientTransformation):
        if rate is not None:
            raise ValueError(
                f"learning_rate={rate!r} cannot be applied to a ready-made "
                "optax.GradientTransformation (it carries its own); leave learning_rate=None"
            )
    elif rate is not None:
        check_learning_rate(rate)


def program_settings(
    optimizer: str | optax.GradientTransformation,
    learning_rate: Any,
    tol: float | None,
    hyper: Mapping[str, float],
) -> tuple[Any, dict[str, float]]:
    """An estimator's settings as its compiled program takes them: ``(schedule, values)``.

    ``schedule`` is static (part of the program's key): the learning-rate schedule, or
    ``0.0`` when the rate is a number. ``values`` are traced, so one program serves every
    value: ``learning_rate`` (``0.0`` under a schedule; ``None`` resolved by
    :func:`learning_rate_in_effect`), ``tol`` (``0.0`` for ``None``; whether there is a
    ``tol`` is static) and the optimizer's hyperparameters ``hyper``. The one place that
    does this for ``JAXOptimizer`` and ``ParallelTrainer``, resident or streamed.

    Example:
        >>> program_settings("adam", None, None, {"b1": 0.9})
        (0.0, {'learning_rate': 0.01, 'tol': 0.0, 'b1': 0.9})
    """
    rate = learning_rate_in_effect(optimizer, learning_rate)
    schedule = rate if callable(rate) else 0.0
    values = {
        "learning_rate": 0.0 if callable(rate) else float(rate),
        "tol": 0.0 if tol is None else float(tol),
        **hyper,
    }
    return schedule, values
