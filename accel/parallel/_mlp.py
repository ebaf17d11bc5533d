"""The layer-list MLP accepted by the sharded strategies (model_parallel, pipeline_parallel).

Model format: ``params`` is a list of layers, each a dict ``{'w': (in, out), 'b': (out,)}``
(float arrays) whose widths chain (``out`` of layer ``l`` == ``in`` of layer ``l + 1``);
``loss_fn`` is an :class:`MLPLoss` made by :func:`mlp_loss`:

.. code-block:: text

    h_0 = batch[input]
    h_l = act(h_{l-1} @ w_l + b_l)      for every layer but the last
    out = h_{L-1} @ w_L + b_L           (no activation on the output layer)
    loss = head(out, batch)             (the batch's mean loss; per-row terms, no batch statistics)

An :class:`MLPLoss` is an ordinary ``loss_fn(params, batch)``, so the same model trains
unchanged with ``strategy='data_parallel'`` (or any single-device loop); the sharded
strategies read its structure (layers, activation, head) to split the work.

Example:
    >>> import numpy as np, optax
    >>> from accel.parallel import init_mlp, mlp_loss
    >>> head = lambda out, b: optax.softmax_cross_entropy_with_integer_labels(out, b["y"]).mean()
    >>> loss_fn = mlp_loss(head, activation="tanh")
    >>> layers = init_mlp([4, 8, 3], seed=0)
    >>> [tuple(layer["w"].shape) for layer in layers]
    [(4, 8), (8, 3)]
    >>> batch = {"x": np.ones((2, 4), np.float32), "y": np.array([0, 2])}
    >>> bool(loss_fn(layers, batch) > 0)
    True
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["ACTIVATIONS", "MLPLoss", "check_layers", "init_mlp", "mlp_apply", "mlp_loss"]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "sigmoid": jax.nn.sigmoid,
    "identity": lambda x: x,
}


def mlp_apply(layers: Any, x: jax.Array, activation: str) -> jax.Array:
    """The forward pass of the module docstring (single device)."""
    act = ACTIVATIONS[activation]
    h = x
    for i, layer in enumerate(layers):
        h = h @ layer["w"] + layer["b"]
        if i < len(layers) - 1:
            h = act(h)
    return h


@dataclasses.dataclass(frozen=True)
class MLPLoss:
    """``loss_fn(params, batch) = head(mlp_apply(params, batch[input], activation), batch)``.

    Hashable (a compiled program is reused for the same ``head`` function object).
    """

    head: Callable[[jax.Array, Any], jax.Array]
    activation: str = "relu"
    input: str = "x"

    def __call__(self, params: Any, batch: Any) -> jax.Array:
        check_layers(params, "mlp_loss")
        return self.head(mlp_apply(params, batch[self.input], self.activation), batch)

    def row_losses(self, outputs: jax.Array, batch: Any) -> jax.Array:
        """``head`` of every row on its own: shape ``(rows,)`` (for masking padded rows)."""
        return jax.vmap(lambda o, ex: self.head(o[None], jax.tree.map(lambda a: a[None], ex)))(
            outputs, batch
        )


def mlp_loss(
    head: Callable[[jax.Array, Any], jax.Array], activation: str = "relu", input: str = "x"
) -> MLPLoss:
    """An :class:`MLPLoss`. ``head(outputs, batch)`` is the mean loss of the batch given the
    network outputs; ``activation`` one of :data:`ACTIVATIONS`; ``input`` the key of the
    features in the batch dict."""
    if not callable(head):
        raise TypeError(
            f"head must be callable (outputs, batch) -> loss, got {type(head).__name__}"
        )
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
    if not isinstance(input, str):
        raise TypeError(f"input must be a str (the features' key in the batch), got {input!r}")
    return MLPLoss(head, activation, input)


def check_layers(params: Any, who: str) -> list[tuple[int, int]]:
    """``[(in, out) per layer]`` of a layer list, or a ``ValueError`` saying what is wrong."""
    accepted = "a list of layers {'w': (in, out), 'b': (out,)} with chaining widths"
    if not isinstance(params, list | tuple) or not params:
        raise ValueError(f"{who} needs params as {accepted}, got {type(params).__name__}")
    dims = []
    for i, layer in enumerate(params):
        if not isinstance(layer, dict) or set(layer) != {"w", "b"}:
            raise ValueError(f"{who} needs params as {accepted}; params[{i}] is {layer!r:.60}")
        w, b = np.shape(layer["w"]), np.shape(layer["b"])
        if len(w) != 2 or b != (w[1],):
            raise ValueError(
                f"params[{i}] must hold 'w' of shape (in, out) and 'b' of shape (out,), got "
                f"{w} and {b}"
            )
        if dims and dims[-1][1] != w[0]:
            raise ValueError(
                f"params[{i}]['w'] has {w[0]} inputs but params[{i - 1}] has {dims[-1][1]} outputs"
            )
        dims.append((int(w[0]), int(w[1])))
    return dims


def init_mlp(sizes: list[int], seed: int = 0, scale: float = 1.0) -> list[dict[str, np.ndarray]]:
    """Layers for widths ``sizes`` (``[in, hidden..., out]``): ``w ~ N(0, scale²/in)``, ``b = 0``."""
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise ValueError(f"sizes must list at least 2 positive widths, got {sizes!r}")
    rng = np.random.default_rng(seed)
    return [
        {
            "w": (rng.normal(size=(a, b)) * scale / np.sqrt(a)).astype(np.float32),
            "b": np.zeros(b, np.float32),
        }
        for a, b in itertools.pairwise(sizes)
    ]
