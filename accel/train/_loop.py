"""The one training program: epochs of mini-batches, ``tol``, divergence, history.

Every trainer of the project runs this loop: ``JAXOptimizer`` (one device) and every strategy
of ``ParallelTrainer`` (data, model and pipeline parallel, any backend). A strategy plugs in
:class:`Parts` (how one optimizer step and one full-data evaluation are computed on its
devices); the loop owns everything else:

.. code-block:: text

    while step < stop and not (converged or diverged or halted):
        e = step // S                          (S optimizer steps per epoch)
        order = orders of epoch e              (drawn in the program, a block of epochs at a time)
        run the steps of epoch e up to stop    (Parts.step)
        at the end of the epoch (on the schedule of LoopSpec.eval_every; else NaN in the history):
            L_e, g_e = Parts.evaluate(params)  (full-data loss, gradient; pass_loss: the pass's)
            history[e] = L_e, |g_e|
            diverged  = the rule of _stopping  (then keep the state of the epoch before,
                                               or leave that to the caller: keep_last_good)
            converged = L_{e-1} - L_e <= tol * |L_{e-1}|   (when tol is set)

One call (``run``) is one XLA program running all epochs up to ``stop``, a traced bound: the
number of epochs, the learning rate and every optimizer hyperparameter, ``tol`` and the seed
are arguments, never constants, so a second fit with other values reuses the executable.
The history of one call is a fixed buffer of ``hist_cap`` epochs (:class:`History`); runs
longer than that are several calls of the same program.

The row order of epoch ``e`` is ``accel._orders``' (the same bits in every trainer). With
``partial_epochs`` a call may stop inside an epoch (checkpoints at any step).

Example:
    >>> import jax.numpy as jnp, numpy as np, optax
    >>> from accel.train._loop import LoopSpec, Parts, TrainState, build_loop, init_carry
    >>> spec = LoopSpec(n_rows=1, steps_per_epoch=1, order_block=0, hist_cap=8, has_tol=False,
    ...                 partial_epochs=False)
    >>> def step(tx, data, train, ctx, index, boundary):  # gradient descent on (w - 3)^2 / 2
    ...     updates, opt = tx.update(boundary[1], train.opt_state, train.params)
    ...     return train._replace(params=optax.apply_updates(train.params, updates), opt_state=opt)
    >>> def evaluate(data, train):
    ...     w = train.params
    ...     return 0.5 * (w - 3.0) ** 2, w - 3.0, jnp.abs(w - 3.0)
    >>> parts = Parts(make_tx=lambda h: optax.sgd(h["learning_rate"]), epoch_context=lambda d, o: None,
    ...               step=step, evaluate=evaluate, grad_template=jnp.zeros_like)
    >>> run = build_loop(spec, parts)
    >>> w = jnp.float32(0.0)
    >>> carry = init_carry(spec, TrainState.fresh(w, optax.sgd(0.5).init(w)), jnp.float32(0), jnp.float32)
    >>> carry, hist = run(carry, None, None, {"learning_rate": jnp.float32(0.5)}, jnp.int32(3))
    >>> np.asarray(hist.curve[0, :4]).tolist(), np.asarray(hist.counts[:4]).tolist()  # loss; step, flags
    ([4.5, 1.125, 0.28125, 0.0703125], [3, -1, 0, 0])
    >>> float(carry.train.params)
    2.625
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from accel import _keys, _orders
from accel.train import _stopping
from accel.train._precision import LossScale, all_finite, update_loss_scale

__all__ = [
    "HIST_CAP",
    "Carry",
    "History",
    "LoopSpec",
    "Parts",
    "StepIndex",
    "TrainState",
    "apply_gradients",
    "build_loop",
    "init_carry",
]

# epoch boundaries recorded per call: a run of up to HIST_CAP epochs is ONE dispatch
HIST_CAP = 4096


class LoopSpec(NamedTuple):
    """Static configuration of the loop (part of the compiled program's identity)."""

    n_rows: int  # length of an epoch's order (all rows, all processes)
    steps_per_epoch: int  # S
    order_block: int  # epochs of orders drawn per call of _orders.epoch_orders; 0: no order
    hist_cap: int  # epoch boundaries one call records
    has_tol: bool  # stop at the tol rule (tol is a traced argument)
    partial_epochs: bool  # a call may end inside an epoch
    # False: the data are fed a block of steps at a time (an input pipeline): the call runs
    # steps only, and the host evaluates at epoch boundaries (accel.train._streamed)
    evaluate: bool = True
    # False: a diverged epoch is NOT undone in the program (no per-epoch select of the whole
    # state): the loop stops with that epoch's state, step and loss in the carry, and the
    # caller recovers the epoch before by running the same program again up to it
    keep_last_good: bool = True
    record_skipped: bool = True  # History.counter (False: left at 0, one write less per epoch)
    # the full-data evaluation's schedule (_stopping.evaluation_due): 1 every epoch; k > 1 the
    # initial parameters, every k-th epoch and the run's last (hyper['eval_until'], traced);
    # 0 never (the history's loss is NaN; stopping rules then act on nothing)
    eval_every: int = 1
    # the history's loss is the training pass's (with eval_every 0): the epoch's mean row loss
    # at the steps that trained them (TrainState.pass_loss); the rules' reference: epoch 1's
    pass_loss: bool = False
    # L-BFGS's stopping rules (``hyper['gtol']``, ``hyper['ftol']``; scipy's L-BFGS-B):
    # converged when max|g| <= gtol or (L_prev - L) / max(|L_prev|, |L|, 1) <= ftol; an epoch
    # that raises the loss is undone and ends the run (converged). Needs keep_last_good.
    quasi_newton: bool = False


class StepIndex(NamedTuple):
    """Where a step is: epoch ``e``, step ``s`` of the epoch, global step ``e * S + s``, the
    global step at which this call started (a fed block's first step), and the run's seed
    as the raw key data of ``K(seed)`` (uint32 ``(2,)``, or ``None``: per-sample
    augmentation derives its keys from it)."""

    epoch: jax.Array
    step: jax.Array
    global_step: jax.Array
    first: jax.Array
    seed: Any = None


class TrainState(NamedTuple):
    """What the optimizer steps change (all of it checkpointed: pass_loss too, mid-epoch)."""

    params: Any
    opt_state: Any
    loss_scale: LossScale | tuple  # () without loss scaling
    bad_step: jax.Array  # int32: -1, or the first step with a non-finite loss (nan_policy='raise')
    skipped: jax.Array  # int32: steps skipped since the start (non-finite loss or gradients)
    # float32 (2,): the current epoch's steps so far: sum of their rows' losses, their rows
    # (LoopSpec.pass_loss; apply_gradients adds each step taken), or ()
    pass_loss: Any = ()

    @classmethod
    def fresh(cls, params: Any, opt_state: Any, loss_scale: Any = ()) -> TrainState:
        return cls(params, opt_state, loss_scale, jnp.int32(-1), jnp.int32(0))


class Carry(NamedTuple):
    """The loop's state between calls (donated to the next call)."""

    train: TrainState
    step: jax.Array  # int32: optimizer steps completed
    loss: jax.Array  # full-data loss at the last epoch boundary
    grad: Any  # full-data gradient there (full-batch steps reuse it), or ()
    loss0: jax.Array  # the loss at initialisation (the divergence rule's reference)
    converged: jax.Array
    diverged: jax.Array
    started: jax.Array  # the initial evaluation is done (the first call does it)
    orders: jax.Array  # (order_block, n_rows) int32: orders of epochs orders_first, ...
    orders_first: jax.Array  # int32; -1: none drawn yet


class History(NamedTuple):
    """What one call reports, in two arrays (two transfers to the host).

    ``curve`` (2, 1 + hist_cap), the loss's dtype: row 0 the full-data loss, row 1 the
    gradient norm; column 0 the evaluation at the initial parameters when this call made it
    (the first call; else NaN), column ``1 + i`` the end of epoch ``e0 + i`` where
    ``e0 = step // S`` at the call's start (NaN where not reached).
    ``counts`` (4 + hist_cap,) int32: the carry's ``step``, ``bad_step``, ``converged`` and
    ``diverged`` at the call's end, then ``TrainState.skipped`` at each epoch end reached
    (0 where not reached, and with ``LoopSpec.record_skipped=False``)."""

    curve: jax.Array
    counts: jax.Array


class Parts(NamedTuple):
    """What a strategy plugs into the loop; every function is traceable.

    ``make_tx(hyper)``: the optax transformation from the traced hyperparameters.
    ``epoch_context(data, order)``: computed once per epoch from its row order (``None``
    when ``LoopSpec.order_block == 0``); passed to every step of the epoch.
    ``step(tx, data, train, ctx, index, boundary) -> train``: one optimizer step;
    ``boundary = (loss, grad)`` is the full-data evaluation at the last epoch boundary (a
    full-batch step may use it).
    ``evaluate(data, train) -> (loss, grad, grad_norm)``: full-data loss, gradient (or ``()``)
    and its norm (or NaN).
    ``grad_template(params)``: zeros with the structure of ``evaluate``'s gradient.
    ``halted(train)``: stop now (``nan_policy='raise'`` saw a non-finite loss), or ``None``.
    ``nonfinite_diverges``: ``False`` under ``nan_policy='skip'``, where rows with
    non-finite losses are expected (their steps are skipped): only an exploding finite loss
    is then divergence.
    """

    make_tx: Callable[[dict], optax.GradientTransformation]
    epoch_context: Callable[[Any, Any], Any]
    step: Callable[..., TrainState]
    evaluate: Callable[[Any, TrainState], tuple[Any, Any, Any]]
    grad_template: Callable[[Any], Any]
    halted: Callable[[TrainState], jax.Array] | None = None
    nonfinite_diverges: bool = True


def init_carry(spec: LoopSpec, train: TrainState, grad: Any, loss_dtype: Any) -> Carry:
    """The carry at step 0 (host or device arrays): the first call evaluates the initial
    parameters. ``grad`` has the structure of ``Parts.evaluate``'s gradient (zeros)."""
    nan = np.asarray(np.nan, loss_dtype)
    rows = spec.order_block if spec.order_block else 0
    return Carry(
        train=train,
        step=np.int32(0),
        loss=nan,
        grad=grad,
        loss0=nan.copy(),
        converged=np.bool_(False),
        diverged=np.bool_(False),
        started=np.bool_(False),
        orders=np.zeros((rows, spec.n_rows if rows else 0), np.int32),
        orders_first=np.int32(-1),
    )


def _select(flag: jax.Array, old: Any, new: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), old, new)


def build_loop(spec: LoopSpec, parts: Parts) -> Callable[..., tuple[Carry, History]]:
    """``run(carry, data, key, hyper, stop) -> (carry, history)`` (not jitted: the caller
    jits, pmaps or shard_maps it). ``key`` is the raw data of ``K(seed)``
    (``[seed >> 32, seed & 0xFFFFFFFF]``, uint32, a plain array every backend can
    place); ``hyper`` a dict of traced scalars (``'tol'`` among them when ``has_tol``);
    ``stop`` the global step to stop at."""
    S = spec.steps_per_epoch
    block = spec.order_block

    def start(c: Carry, data: Any):
        loss, grad, gnorm = parts.evaluate(data, c.train)
        loss = loss.astype(c.loss.dtype)
        c = c._replace(
            loss=loss, grad=grad, loss0=loss, started=jnp.bool_(True),
            diverged=_stopping.diverged(loss, loss, jnp, nonfinite=parts.nonfinite_diverges),
        )  # fmt: skip
        return c, loss, jnp.asarray(gnorm, loss.dtype)

    def skip_start(c: Carry):
        nan = jnp.full((), jnp.nan, c.loss.dtype)
        return c._replace(started=jnp.bool_(True)), nan, nan

    def run(carry: Carry, data: Any, key_data: Any, hyper: dict, stop: jax.Array):
        tx = parts.make_tx(hyper)
        key = None if key_data is None else jax.random.wrap_key_data(key_data, impl=_keys.DEFAULT_IMPL)
        nan = jnp.full((), jnp.nan, carry.loss.dtype)
        until = hyper.get("eval_until", jnp.int32(0))  # the run's epochs (eval_every != 1)
        if spec.evaluate:
            first = skip_start if spec.eval_every == 0 else (lambda c: start(c, data))
            carry, loss_init, gnorm_init = jax.lax.cond(
                carry.started, lambda c: (c, nan, nan), first, carry
            )
        else:
            loss_init = gnorm_init = nan
        first_epoch = carry.step // S
        first_step = carry.step
        cap = spec.hist_cap
        curve = jnp.full((2, 1 + cap), jnp.nan, carry.loss.dtype)
        hist = History(curve.at[:, 0].set(jnp.stack([loss_init, gnorm_init])), jnp.zeros(4 + cap, jnp.int32))

        def going(state):
            c, _ = state
            ok = (c.step < stop) & ~c.converged & ~c.diverged
            if parts.halted is not None:
                ok = ok & ~parts.halted(c.train)
            return ok

        def epoch(state):
            c, h = state
            e = c.step // S
            orders, first, order = c.orders, c.orders_first, None
            if block:
                inside = (first >= 0) & (e >= first) & (e < first + block)
                orders, first = jax.lax.cond(
                    inside,
                    lambda: (orders, first),
                    lambda: (_orders.epoch_orders(key, e, spec.n_rows, block), e),
                )
                order = orders[e - first]
            ctx = parts.epoch_context(data, order)

            def one(s, train):
                index = StepIndex(e, s, e * S + s, first_step, key_data)
                return parts.step(tx, data, train, ctx, index, (c.loss, c.grad))

            if spec.partial_epochs:
                s1 = jnp.minimum(S, stop - e * S)
                train = jax.lax.fori_loop(c.step - e * S, s1, one, c.train)
            else:
                s1 = S
                train = one(jnp.int32(0), c.train) if S == 1 else jax.lax.fori_loop(0, S, one, c.train)
            step = e * S + s1
            moved = c._replace(train=train, step=step, orders=orders, orders_first=first)

            def settle(loss, grad, gnorm, after, loss0):
                """The epoch end's rules and history for the ``loss`` recorded there (its
                reference ``loss0``); ``after``: the state the epoch's steps left."""
                bad = _stopping.diverged(loss, loss0, jnp, nonfinite=parts.nonfinite_diverges)
                if parts.halted is not None:  # a halted run stops as it is (the caller raises)
                    bad = bad & ~parts.halted(after)
                conv = c.converged  # False here (the loop runs while it is): kept, not rewritten
                if spec.has_tol:
                    conv = _stopping.converged(c.loss, loss, hyper["tol"], jnp) & ~bad
                undo = bad
                if spec.quasi_newton:
                    worse = loss > c.loss
                    conv = (conv | worse | _stopping.quasi_newton_converged(
                        c.loss, loss, grad, hyper["gtol"], hyper["ftol"], jnp)) & ~bad
                    undo = bad | worse
                i = e - first_epoch
                h2 = History(
                    h.curve.at[:, 1 + i].set(jnp.stack([loss, jnp.asarray(gnorm, loss.dtype)])),
                    h.counts.at[4 + i].set(after.skipped) if spec.record_skipped else h.counts,
                )
                ended = moved._replace(train=after, loss0=loss0)
                if not spec.keep_last_good:  # the caller undoes a diverged epoch (LoopSpec)
                    return ended._replace(loss=loss, grad=grad, converged=conv, diverged=bad), h2
                kept = ended._replace(
                    train=_select(undo, c.train, after),
                    step=jnp.where(undo, c.step, step),
                    loss=jnp.where(undo, c.loss, loss),
                    grad=_select(undo, c.grad, grad),
                    converged=conv,
                    diverged=bad,
                )
                return kept, h2

            def boundary(_):  # the full-data evaluation
                loss, grad, gnorm = parts.evaluate(data, train)
                return settle(loss, grad, gnorm, train, c.loss0)

            def pass_end(_):  # the training pass's loss (LoopSpec.pass_loss), its sums reset
                loss = (train.pass_loss[0] / train.pass_loss[1]).astype(c.loss.dtype)
                after = train._replace(pass_loss=jnp.zeros_like(train.pass_loss))
                return settle(loss, c.grad, jnp.nan, after, jnp.where(jnp.isnan(c.loss0), loss, c.loss0))

            def unevaluated(_):  # an epoch end off the evaluation schedule: NaN in the history
                i = e - first_epoch
                return moved, h._replace(counts=h.counts.at[4 + i].set(train.skipped)) if spec.record_skipped else h

            if not spec.evaluate:  # fed data: the host evaluates at the boundary
                return moved, h
            ended = s1 == S
            if spec.pass_loss:
                if not spec.partial_epochs:
                    return pass_end(None)
                return jax.lax.cond(ended, pass_end, lambda _: (moved, h), None)
            if spec.eval_every != 1:
                due = _stopping.evaluation_due(e + 1, spec.eval_every, until)
                if not spec.partial_epochs:
                    return jax.lax.cond(due, boundary, unevaluated, None)
                return jax.lax.cond(ended & due, boundary,
                                    lambda x: jax.lax.cond(ended, unevaluated, lambda _: (moved, h), x), None)  # fmt: skip
            if spec.partial_epochs:
                return jax.lax.cond(ended, boundary, lambda _: (moved, h), None)
            return boundary(None)

        carry, hist = jax.lax.while_loop(going, epoch, (carry, hist))
        flags = [carry.step, carry.train.bad_step, carry.converged, carry.diverged]
        return carry, hist._replace(counts=hist.counts.at[:4].set(jnp.stack([jnp.int32(f) for f in flags])))

    return run


def apply_gradients(
    train: TrainState,
    grads: Any,
    loss: jax.Array,
    index: StepIndex,
    optimizer: optax.GradientTransformation,
    *,
    nan_policy: str | None,
    loss_scale: str | float,
    grads_ok: jax.Array | None = None,
    rows: jax.Array | None = None,
) -> TrainState:
    """One optimizer update from the (unscaled) gradients of the step's batch.

    ``nan_policy=None``: a plain update (non-finite values surface in the next evaluation,
    where the divergence rule stops the loop). ``'raise'``: a non-finite loss records
    ``bad_step`` and freezes the state (the caller raises); ``'skip'``: such steps are skipped
    and counted. In both, steps with non-finite gradients (a loss-scale overflow) are skipped
    and the dynamic loss scale is updated (``update_loss_scale``). ``grads_ok`` overrides
    ``all_finite(grads)`` (sharded strategies pass the flag reduced over devices).
    ``rows``: the step's real rows, whose mean loss is ``loss``; a training pass's loss
    (``TrainState.pass_loss``, when not ``()``) adds ``(loss * rows, rows)`` of each step
    taken.
    """
    def update(params, opt_state):
        updates, new_opt = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_opt

    tracked = not isinstance(train.pass_loss, tuple)  # (then rows is given): add the step's sums
    sums = jnp.stack([loss.astype(jnp.float32) * rows, jnp.asarray(rows, jnp.float32)]) if tracked else None
    if nan_policy is None:
        if tracked:
            train = train._replace(pass_loss=train.pass_loss + sums)
        new_params, new_opt = update(train.params, train.opt_state)
        return train._replace(params=new_params, opt_state=new_opt)
    loss_ok = jnp.isfinite(loss)
    grads_ok = all_finite(grads) if grads_ok is None else grads_ok
    active = train.bad_step < 0
    ok = active & loss_ok & grads_ok
    if nan_policy == "raise":
        bad_step = jnp.where(active & ~loss_ok, index.global_step, train.bad_step)
        skip = active & loss_ok & ~grads_ok  # gradient overflow under loss scaling
    else:
        bad_step = train.bad_step
        skip = active & ~ok
    scale = train.loss_scale
    if isinstance(scale, LossScale):
        new_scale = update_loss_scale(scale, loss_ok & grads_ok, loss_scale)
        scale = jax.tree.map(lambda a, b: jnp.where(active, a, b), new_scale, scale)
    pass_loss = train.pass_loss
    if tracked:  # the steps taken (a skipped step's loss is not the pass's)
        pass_loss = pass_loss + jnp.where(ok, sums, 0.0)
    # the update runs only when taken (a cond, not a select of the whole state per step:
    # the select cost 20% of an MLP's step on 4 CPU devices, BENCHMARKS.md)
    new_params, new_opt = jax.lax.cond(ok, update, lambda p, s: (p, s), train.params, train.opt_state)
    return TrainState(
        params=new_params,
        opt_state=new_opt,
        loss_scale=scale,
        bad_step=bad_step,
        skipped=train.skipped + skip.astype(jnp.int32),
        pass_loss=pass_loss,
    )
