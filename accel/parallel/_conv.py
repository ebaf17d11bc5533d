"""A 2-D convolution for models trained in one compiled program: slices and one matmul.

``conv2d(x, kernel, stride, padding)`` computes what
``lax.conv_general_dilated(x, kernel, stride, padding, dimension_numbers=('NHWC', 'HWIO',
'NHWC'))`` computes, written as im2col:

.. code-block:: text

    x_pad = pad(x) (padding 'SAME': out = ceil(in / stride), the padding split as XLA splits it;
                    'VALID': none, out = (in - k) // stride + 1)
    patches[n, i, j, (a, b, c)] = x_pad[n, i * s_h + a, j * s_w + b, c]   (k_h * k_w strided slices)
    out = patches @ kernel.reshape(k_h * k_w * C_in, C_out)

Why: inside a loop of a compiled program (``lax.fori_loop``/``while_loop``, which is how
``ParallelTrainer`` runs all its steps in one program), XLA:CPU leaves the gradients of
``lax.conv_general_dilated`` in a form it runs several times slower than the same gradients
outside a loop (jax-ml/jax#12868; a small CNN trained about 7x faster with ``conv2d``:
``benchmarks/bench_augment_train.py`` with and without ``--conv lax``, BENCHMARKS.md,
"Augmentation inside training"). Slices, a concatenation and a matmul, and their gradients (pads, adds and
matmuls), run at full speed there. The forward pass costs the patches' memory
(``k_h * k_w`` times the input's): meant for small images and kernels.

Example:
    >>> import jax, numpy as np
    >>> from accel.parallel import conv2d
    >>> x = np.random.default_rng(0).random((2, 9, 9, 3), dtype=np.float32)
    >>> k = np.random.default_rng(1).standard_normal((3, 3, 3, 4)).astype(np.float32)
    >>> ref = jax.lax.conv_general_dilated(x, k, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    >>> bool(np.allclose(conv2d(x, k, 2), ref, atol=1e-5))
    True
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["conv2d"]

PADDINGS = ("SAME", "VALID")


def _pair(value: Any, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, tuple | list) else None
    if pair is None or len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return pair


def _padding(size: int, k: int, s: int, padding: str) -> tuple[int, tuple[int, int]]:
    """Output size and (before, after) padding of one spatial axis (XLA's rule)."""
    if padding == "VALID":
        return (size - k) // s + 1, (0, 0)
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, (total // 2, total - total // 2)


def conv2d(x: Any, kernel: Any, stride: int | tuple[int, int] = 1, padding: str = "SAME") -> jax.Array:
    """``lax.conv_general_dilated(x, kernel, stride, padding)`` for NHWC ``x`` and HWIO
    ``kernel`` (no dilation, no groups), as slices and one matmul (module doc); traceable.

    ``x``: ``(N, H, W, C_in)``; ``kernel``: ``(k_h, k_w, C_in, C_out)``; ``stride`` an int or
    ``(s_h, s_w)``; ``padding`` ``'SAME'`` or ``'VALID'``. Returns ``(N, H_out, W_out, C_out)``.
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    s_h, s_w = _pair(stride, "stride")
    if jnp.ndim(x) != 4 or jnp.ndim(kernel) != 4:
        raise ValueError(
            f"conv2d takes x (N, H, W, C_in) and kernel (k_h, k_w, C_in, C_out), got shapes "
            f"{jnp.shape(x)} and {jnp.shape(kernel)}"
        )
    _, h, w, c = jnp.shape(x)
    k_h, k_w, c_in, c_out = jnp.shape(kernel)
    if c_in != c:
        raise ValueError(f"kernel has {c_in} input channels, x has {c}")
    if padding == "VALID" and (k_h > h or k_w > w):
        raise ValueError(f"a {k_h}x{k_w} kernel does not fit a {h}x{w} image without padding")
    out_h, pad_h = _padding(h, k_h, s_h, padding)
    out_w, pad_w = _padding(w, k_w, s_w, padding)
    xp = jnp.pad(x, ((0, 0), pad_h, pad_w, (0, 0)))
    cols = [
        xp[:, a : a + s_h * (out_h - 1) + 1 : s_h, b : b + s_w * (out_w - 1) + 1 : s_w, :]
        for a in range(k_h)
        for b in range(k_w)
    ]
    patches = jnp.concatenate(cols, axis=-1)  # features ordered (a, b, c): kernel's HWI order
    return patches @ jnp.reshape(kernel, (k_h * k_w * c_in, c_out))
