"""accel.parallel.conv2d: lax.conv_general_dilated's values and gradients, as slices and a matmul."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.parallel import conv2d


def _lax(x, k, stride, padding):
    return jax.lax.conv_general_dilated(x, k, stride, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))


@settings(max_examples=12, deadline=None)
@given(
    h=st.integers(3, 9), w=st.integers(3, 9), c_in=st.integers(1, 3), c_out=st.integers(1, 3),
    k_h=st.integers(1, 3), k_w=st.integers(1, 3), s_h=st.integers(1, 3), s_w=st.integers(1, 3),
    padding=st.sampled_from(["SAME", "VALID"]), seed=st.integers(0, 2**16),
)
def test_values_and_gradients_are_lax_convolutions(h, w, c_in, c_out, k_h, k_w, s_h, s_w, padding, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, h, w, c_in)).astype(np.float32)
    k = rng.standard_normal((k_h, k_w, c_in, c_out)).astype(np.float32)
    ours = conv2d(x, k, (s_h, s_w), padding)
    ref = _lax(x, k, (s_h, s_w), padding)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    cot = rng.standard_normal(ref.shape).astype(np.float32)

    def pull(f):
        return jax.grad(lambda a, b: jnp.sum(f(a, b) * cot), argnums=(0, 1))(x, k)

    for got, want in zip(pull(lambda a, b: conv2d(a, b, (s_h, s_w), padding)),
                         pull(lambda a, b: _lax(a, b, (s_h, s_w), padding)), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (((2, 5, 5, 1), (3, 3, 1, 2), 1, "FULL"), "padding must be one of"),
        (((2, 5, 5, 1), (3, 3, 1, 2), 0, "SAME"), "stride must be a positive int or a pair"),
        (((2, 5, 5, 1), (3, 3, 1, 2), (1, 2, 3), "SAME"), "stride must be a positive int or a pair"),
        (((2, 5, 5), (3, 3, 1, 2), 1, "SAME"), r"x \(N, H, W, C_in\) and kernel"),
        (((2, 5, 5, 2), (3, 3, 1, 2), 1, "SAME"), "kernel has 1 input channels, x has 2"),
        (((2, 2, 5, 1), (3, 3, 1, 2), 1, "VALID"), "a 3x3 kernel does not fit a 2x5 image"),
    ],
)
def test_bad_arguments_are_refused(args, match):
    x_shape, k_shape, stride, padding = args
    with pytest.raises(ValueError, match=match):
        conv2d(np.zeros(x_shape, np.float32), np.zeros(k_shape, np.float32), stride, padding)
