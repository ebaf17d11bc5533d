"""The one estimator base (issue 13): scikit-learn's tools and conventions, the same contract
for JAXOptimizer, ParallelTrainer and the NumPy reference optimizers, one engine."""

from __future__ import annotations

import warnings

import numpy as np
import optax
import pytest
from _helpers import classification, regression
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SkNotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator
from sklearn.utils.validation import check_is_fitted

from accel import JAXOptimizer, ParallelTrainer
from accel.linear import ConvergenceWarning, NotFittedError
from optimizers import SGD, Adam, MomentumSGD


def _regression(n=60, d=3, seed=0):
    coef = np.arange(1, d + 1)
    return regression(n, d, seed=seed, coef=coef, intercept=0.5, noise=0.1, dtype=np.float32)


def _classification(n=80, d=3, seed=0, labels=(0, 1)):
    coef = [1.0, -1.0, 0.5][:d]
    return classification(n, d, seed=seed, coef=coef, draw=False, labels=labels, dtype=np.float32)


def _check(estimator, expected_failed_checks=None):
    """check_estimator with no expected failure (issue 22: __init__ and set_params only
    store, fit validates), except ``expected_failed_checks`` (name -> why) where the estimator
    cannot meet a check by design. The estimators follow scikit-learn's protocol without deriving
    from its ``BaseEstimator`` (importing scikit-learn costs seconds: issue 27 item 5), which
    check_estimator notes with exactly one warning, then runs every check."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        with pytest.warns(UserWarning, match="does not inherit from `sklearn.base.BaseEstimator`") as caught:
            results = check_estimator(estimator, on_fail="raise", on_skip=None,
                                      expected_failed_checks=expected_failed_checks)
    assert len(caught) == 1, [str(w.message) for w in caught]
    statuses = {r["check_name"]: r["status"] for r in results}
    assert statuses["check_do_not_raise_errors_in_init_or_set_params"] == "passed"
    for name in expected_failed_checks or {}:  # it does fail: the reason is still true
        assert statuses.pop(name) == "xfail", name
    assert set(statuses.values()) <= {"passed", "skipped"}, statuses
    assert sum(v == "passed" for v in statuses.values()) >= 46
    return statuses


@pytest.mark.parametrize("loss", ["mse", "logistic"])
def test_check_estimator_jax_optimizer(loss):
    _check(JAXOptimizer(loss=loss, epochs=200, learning_rate=0.05, dtype="float64"))


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "logistic"])
def test_check_estimator_parallel_trainer_fit(loss):
    """Every fit of check_estimator compiles a new program (new shapes): slow. ParallelTrainer
    trains in float32 only, and scikit-learn compares a fit with integer sample weights to the
    fit of the repeated rows at ``rtol=1e-7``: they agree to float32 rounding only (the
    equivalence itself is tested in float64 in ``tests/test_linear_models.py``)."""
    _check(
        ParallelTrainer(n_devices=2, loss=loss, epochs=200, learning_rate=0.05),
        {"check_sample_weight_equivalence_on_dense_data": "float32 parameters (ParallelTrainer)"},
    )


def test_check_estimator_parallel_trainer_core_checks():
    """The checks of check_estimator that exercise fit/predict contracts, on one device."""
    from sklearn.utils import estimator_checks as ec

    est = ParallelTrainer(n_devices=1, epochs=100, learning_rate=0.05)
    checks = (
        ec.check_do_not_raise_errors_in_init_or_set_params,
        ec.check_no_attributes_set_in_init,
        ec.check_parameters_default_constructible,
        ec.check_estimators_fit_returns_self,
        ec.check_estimators_unfitted,
        ec.check_fit2d_predict1d,
        ec.check_estimators_overwrite_params,
        ec.check_n_features_in_after_fitting,
        ec.check_estimators_pickle,
        ec.check_regressors_train,
    )
    for check in checks:
        check(type(est).__name__, est)


# ----- scikit-learn's tools ------------------------------------------------------------------
def test_cross_val_score_grid_search_and_pipeline():
    X, y = _regression()
    scores = cross_val_score(JAXOptimizer(epochs=300, learning_rate=0.1), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.95)
    search = GridSearchCV(JAXOptimizer(epochs=100), {"learning_rate": [0.001, 0.1]}, cv=3)
    search.fit(X, y)
    assert search.best_params_ == {"learning_rate": 0.1}  # 100 epochs at 0.001 barely move
    assert search.best_estimator_.n_epochs_ == 100
    pipe = make_pipeline(StandardScaler(), JAXOptimizer(epochs=300, learning_rate=0.1))
    assert pipe.fit(X * 100 + 7, y).score(X * 100 + 7, y) > 0.95
    Xc, yc = _classification(labels=("no", "yes"))
    clf = make_pipeline(StandardScaler(), JAXOptimizer(loss="logistic", epochs=300, learning_rate=0.1))
    assert clf.fit(Xc, yc).score(Xc, yc) > 0.9
    assert set(clf.predict(Xc)) <= {"no", "yes"} and clf[-1].classes_.tolist() == ["no", "yes"]


def test_search_over_optimizers_from_any_starting_point():
    """set_params(optimizer_type=...) drops the old optimizer's hyperparameters, so a search
    over optimizers works even from an estimator that set one (clone then set_params)."""
    X, y = _regression()
    base = JAXOptimizer("momentum", momentum=0.5, epochs=50, learning_rate=0.05)
    search = GridSearchCV(base, {"optimizer_type": ["momentum", "adam", "sgd"]}, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 3
    switched = clone(base).set_params(optimizer_type="adam")
    assert "momentum" not in switched.get_params()
    stored = clone(base).set_params(optimizer_type="sgd", momentum=0.9)  # only stored
    with pytest.raises(TypeError, match="optimizer 'sgd' has no hyperparameter 'momentum'"):
        stored.fit(X, y)


@pytest.mark.parametrize("make", [lambda **kw: JAXOptimizer(**kw),
                                  lambda **kw: ParallelTrainer(n_devices=1, **kw)],
                         ids=["JAXOptimizer", "ParallelTrainer"])
def test_grid_switching_optimizers_and_their_hyperparameters(make):
    """A grid whose candidates switch optimizer_type and set (or unset, with None) the
    optimizers' own hyperparameters: every candidate fits the optimizer it names."""
    X, y = _regression()
    grid = [
        {"optimizer_type": ["momentum"], "momentum": [0.5, 0.9]},
        {"optimizer_type": ["adam"], "momentum": [None], "b1": [0.8]},
        {"optimizer_type": ["sgd"], "momentum": [None]},
    ]
    base = make(optimizer_type="momentum", momentum=0.7, epochs=30, learning_rate=0.05, batch_size=20)
    search = GridSearchCV(base, grid, cv=2, error_score="raise").fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    adam = clone(base).set_params(optimizer_type="adam", momentum=None, b1=0.8)
    assert {k: v for k, v in adam.get_params().items() if k in ("momentum", "b1")} == {"b1": 0.8}
    reference = make(optimizer_type="adam", b1=0.8, epochs=30, learning_rate=0.05, batch_size=20)
    np.testing.assert_array_equal(adam.fit(X, y).coef_, reference.fit(X, y).coef_)


@pytest.mark.parametrize(
    "make",
    [
        lambda: JAXOptimizer(epochs=5, momentum=0.5, optimizer_type="momentum"),
        lambda: ParallelTrainer(n_devices=1, epochs=5, momentum=0.5, optimizer_type="momentum"),
        lambda: MomentumSGD(epochs=5, momentum=0.5),
    ],
    ids=["JAXOptimizer", "ParallelTrainer", "MomentumSGD"],
)
def test_none_unsets_a_hyperparameter(make):
    est = make()
    assert est.set_params(momentum=None).get_params().get("momentum", "unset") in ("unset", None)
    X, y = _regression()
    est.fit(X, y)  # the default momentum (0.9) applies
    np.testing.assert_allclose(est.coef_, clone(make()).set_params(momentum=0.9).fit(X, y).coef_)


def _bad_fits(est, X, y):
    """Ways a fit fails after a good one: a bad setting, bad X, bad y, a NaN in X."""
    X_nan, X_text = X.copy(), X.astype(object)
    X_nan[3, 1], X_text[0, 0] = np.nan, "a"
    yield lambda: est.fit(X_text, y), TypeError, "X must hold numbers"
    yield lambda: est.fit(X, y[:-1]), ValueError, "X and y have different lengths"
    yield lambda: est.fit(X_nan, y), ValueError, "NaN"


@pytest.mark.parametrize(
    "make",
    [
        lambda: JAXOptimizer(epochs=5, learning_rate=0.05),
        lambda: ParallelTrainer(n_devices=1, epochs=5, learning_rate=0.05),
        lambda: Adam(epochs=5, learning_rate=0.05),
    ],
    ids=["JAXOptimizer", "ParallelTrainer", "Adam"],
)
def test_a_fit_that_raises_leaves_the_previous_fit_intact(make):
    X, y = _regression()
    est = make().fit(X, y)
    before = {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}
    for fit, error, message in _bad_fits(est, X, y):
        with pytest.raises(error, match=message):
            fit()
        after = {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}
        assert after.keys() == before.keys()
        for key, value in before.items():
            assert after[key] is value, key  # the very objects of the previous fit
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, got 0"):
        est.set_params(epochs=0).fit(X, y)  # fit validates the settings before anything
    assert est.coef_ is before["coef_"]


def test_a_failed_train_leaves_the_previous_state_intact():
    X, y = _regression()
    pt = ParallelTrainer(n_devices=1, epochs=3, batch_size=20, learning_rate=0.05).fit(X, y)
    coef, history = pt.coef_, pt.history_

    def loss_fn(params, batch):
        return ((batch["x"] @ params["w"] - batch["y"]) ** 2).mean()

    with pytest.raises(ValueError, match=r"every leaf of data must have the same number of rows, got \[60, 59\]"):
        pt.train(loss_fn, {"w": np.zeros(3, np.float32)}, {"x": X, "y": y[:-1]})
    assert pt.coef_ is coef and pt.history_ is history


@pytest.mark.parametrize(
    "make",
    [
        lambda: JAXOptimizer(epochs=5),
        lambda: ParallelTrainer(n_devices=1, epochs=5),
        lambda: Adam(epochs=5),
    ],
    ids=["JAXOptimizer", "ParallelTrainer", "Adam"],
)
def test_set_params_only_stores_and_not_fitted_everywhere(make):
    est = make()
    before = est.get_params()
    assert est.set_params(learning_rate="garbage", epochs=-3).get_params() == {
        **before, "learning_rate": "garbage", "epochs": -3}  # stored, not checked
    est.set_params(**before)
    with pytest.raises(ValueError, match="invalid parameter 'nope'"):
        est.set_params(nope=1)
    assert est.get_params() == before
    X, y = _regression()
    for call in (est.predict, lambda X: est.score(X, y)):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call(X)
    with pytest.raises(SkNotFittedError):
        check_is_fitted(est)
    est.fit(X, y)
    check_is_fitted(est)
    fitted = clone(est).fit(X, y)  # clone-then-fit, as every search does
    np.testing.assert_array_equal(fitted.coef_, est.coef_)


def test_same_attribute_types_across_estimators():
    """JAXOptimizer, ParallelTrainer and the NumPy reference set the same attributes with the
    same types; ParallelTrainer(n_devices=1) and JAXOptimizer agree to float32 rounding with
    the same history length (issue 13, item 1)."""
    X, y = _regression(n=103, d=5)
    kwargs = {"epochs": 12, "batch_size": 16, "learning_rate": 0.05}
    jo = JAXOptimizer("adam", **kwargs).fit(X, y)
    pt = ParallelTrainer(n_devices=1, optimizer_type="adam", **kwargs).fit(X, y)
    ref = Adam(dtype="float32", **kwargs).fit(X, y)
    for est in (jo, pt, ref):
        assert isinstance(est.coef_, np.ndarray) and est.coef_.dtype == np.float32
        assert isinstance(est.intercept_, np.float32)
        assert type(est.n_epochs_) is int and est.n_epochs_ == 12
        assert type(est.converged_) is bool and type(est.diverged_) is bool
        assert est.n_features_in_ == 5
        for key in ("loss", "grad_norm"):
            assert isinstance(est.history_[key], np.ndarray) and est.history_[key].shape == (13,)
    scale = np.max(np.abs(jo.coef_))
    np.testing.assert_allclose(pt.coef_, jo.coef_, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(pt.intercept_, jo.intercept_, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_allclose(pt.history_["loss"], jo.history_["loss"], rtol=1e-5)
    np.testing.assert_allclose(pt.history_["grad_norm"], jo.history_["grad_norm"], rtol=1e-5)


def test_logistic_takes_any_two_labels():
    X, y = _classification(labels=(-1, 1))
    for est in (
        JAXOptimizer(loss="logistic", epochs=200, learning_rate=0.1),
        ParallelTrainer(n_devices=1, loss="logistic", epochs=200, learning_rate=0.1),
        SGD(loss="logistic", epochs=200, learning_rate=0.5),
    ):
        est.fit(X, y)
        assert est.classes_.tolist() == [-1, 1]
        assert set(np.unique(est.predict(X))) <= {-1, 1} and est.score(X, y) > 0.9
        np.testing.assert_allclose(est.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="y contains one class only"):
        JAXOptimizer(loss="logistic").fit(X, np.zeros(len(X)))
    assert not hasattr(JAXOptimizer(loss="mse"), "predict_proba")  # a regressor
    with pytest.raises(ValueError, match="predict_proba is only defined for loss='logistic'"):
        JAXOptimizer(loss="mse").predict_proba(X)


@pytest.mark.parametrize(
    "make",
    [
        lambda **k: JAXOptimizer("adam", **k),
        lambda **k: ParallelTrainer(n_devices=1, optimizer_type="adam", **k),
        lambda **k: Adam(**k),
    ],
    ids=["JAXOptimizer", "ParallelTrainer", "Adam"],
)
def test_tol_not_reached_warns(make):
    X, y = _regression()
    with pytest.warns(ConvergenceWarning, match="tol=1e-12 was not reached in 3 epochs"):
        est = make(epochs=3, tol=1e-12).fit(X, y)
    assert not est.converged_ and est.n_epochs_ == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = make(epochs=3000, tol=1e-3, learning_rate=0.05).fit(X, y)
    assert est.converged_ and est.n_epochs_ < 3000


def test_parallel_trainer_default_backend_follows_the_strategy():
    X, y = _regression(d=4)
    pt = ParallelTrainer(n_devices=2, strategy="model_parallel", epochs=20, batch_size=16)
    assert pt.get_params()["backend"] is None
    ref = ParallelTrainer(
        n_devices=2, strategy="model_parallel", backend="shard_map", epochs=20, batch_size=16
    )
    np.testing.assert_array_equal(pt.fit(X, y).coef_, ref.fit(X, y).coef_)


def test_numpy_optimizers_refuse_hyperparameters_of_other_optimizers():
    with pytest.raises(ValueError, match="invalid parameter 'momentum'"):
        Adam().set_params(momentum=0.5)
    assert MomentumSGD(momentum=0.5).set_params(momentum=0.7).momentum == 0.7


def test_ready_made_optax_transformation_is_a_parameter_like_any_other():
    X, y = _regression()
    tx = optax.adam(0.05)
    est = JAXOptimizer(tx, epochs=20)
    assert est.fit(X, y).n_epochs_ == 20
    copy = clone(est)  # scikit-learn deep-copies the transformation: equal, not identical
    assert copy.get_params()["optimizer_type"] == tx
    assert copy.fit(X, y).compile_time_ == 0.0  # equal transformations share the program


def test_scikit_learn_is_never_imported_by_accel_and_still_works_without_it():
    """scikit-learn's import costs seconds (issue 27 item 5): ``import accel``, a fit and a
    predict never import it; its tools work by duck typing (``check_estimator`` above), and
    without scikit-learn installed everything but those tools works."""
    import subprocess
    import sys

    def output_of(code: str) -> str:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    code = (
        "import sys\n"
        "import numpy as np\n"
        "from accel import JAXOptimizer, ParallelTrainer\n"
        "from optimizers import SGD\n"
        "X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)\n"
        "est = JAXOptimizer(epochs=5).fit(X, X @ np.ones(3))\n"
        "est.predict(X), est.score(X, X @ np.ones(3)), SGD(epochs=2).fit(X, X @ np.ones(3))\n"
        "assert 'text/html' not in est._repr_mimebundle_()\n"
        "print('sklearn imported:', 'sklearn' in sys.modules)\n"
    )
    out = output_of(code)
    assert "sklearn imported: False" in out, out
    code = (
        "import sys; sys.modules['sklearn'] = None\n"  # import sklearn -> ImportError
        "import numpy as np\n"
        "from accel import JAXOptimizer\n"
        "from accel.linear import NotFittedError\n"
        "X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)\n"
        "est = JAXOptimizer(epochs=5)\n"
        "try:\n    est.predict(X)\nexcept NotFittedError as e:\n    print('not fitted:', e)\n"
        "print(est.fit(X, X @ np.ones(3)).score(X, X @ np.ones(3)) > 0)\n"
    )
    out = output_of(code)
    assert "not fitted:" in out and "True" in out, out


def test_notebook_display_shows_scikit_learns_diagram_once_it_is_imported():
    import sklearn

    est = JAXOptimizer(learning_rate=0.1)
    bundle = est._repr_mimebundle_()
    assert bundle["text/plain"] == repr(est) == "JAXOptimizer(learning_rate=0.1)"
    assert "JAXOptimizer" in bundle["text/html"] and "learning_rate" in bundle["text/html"]
    with sklearn.config_context(display="text"):
        assert "text/html" not in est._repr_mimebundle_()
