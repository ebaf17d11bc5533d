"""scikit-learn's conventions for the estimator base, scikit-learn staying optional.

* :func:`tags` builds scikit-learn's ``Tags`` when one of its tools asks for them
  (``__sklearn_tags__``; that tool has already imported scikit-learn);
* :func:`keeps_state_on_error` keeps the contract that a failed ``fit`` leaves the
  estimator as it was;
* :func:`compatible` gives the class to raise or warn with: our own category (``ValueError``,
  ``UserWarning``, ...), also a subclass of scikit-learn's category of the same name when
  scikit-learn is imported, so ``except sklearn.exceptions.NotFittedError`` and its
  warning filters apply as they do to its own estimators. Code that names scikit-learn's
  category has imported scikit-learn before the error is raised; nothing here imports it
  (about 1.5 s).

Example:
    >>> class NotFittedError(ValueError, AttributeError):
    ...     pass
    >>> import sklearn.exceptions
    >>> err = compatible(NotFittedError)("call fit first")
    >>> isinstance(err, NotFittedError) and isinstance(err, sklearn.exceptions.NotFittedError)
    True
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["compatible", "keeps_state_on_error", "tags"]

_Fit = TypeVar("_Fit", bound=Callable[..., Any])


def compatible(category: type) -> type:
    """``category``, also deriving from ``sklearn.exceptions.<category.__name__>`` when
    scikit-learn is imported (one class per category: identity and ``except`` hold)."""
    if sys.modules.get("sklearn") is None:  # not imported (or blocked)
        return category
    return _derived(category)


@functools.cache
def _derived(category: type) -> type:
    import sklearn.exceptions

    theirs = getattr(sklearn.exceptions, category.__name__, None)
    if theirs is None or issubclass(category, theirs):
        return category
    return type(category.__name__, (category, theirs), {"__module__": category.__module__})


def tags(classifier: bool) -> Any:
    """scikit-learn's ``Tags`` of a regressor (one output or several), or of a classifier
    (two classes or more)."""
    from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags

    return Tags(
        estimator_type="classifier" if classifier else "regressor",
        target_tags=TargetTags(required=True, multi_output=not classifier, single_output=True),
        classifier_tags=ClassifierTags(multi_class=True) if classifier else None,
        regressor_tags=None if classifier else RegressorTags(),
    )


def keeps_state_on_error(method: _Fit) -> _Fit:
    """Decorator for ``fit``-like methods: when the method raises, the estimator's
    attributes are put back as they were before the call, so a failed fit leaves the
    previous fit's ``coef_``, ``classes_``, ``history_``, ... intact (scikit-learn's
    contract). Only the instance's attributes: files a fit wrote (checkpoints) stay."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        before = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    return wrapper  # type: ignore[return-value]
