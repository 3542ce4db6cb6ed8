"""Task pairs from real images: scikit-learn's handwritten digits (shipped inside its wheel)."""

import functools
import operator

import jax
import jax.numpy as jnp
import numpy as np
import sklearn.datasets
import sklearn.preprocessing
from jaxtyping import PRNGKeyArray

from .. import _checks
from ._overlap import input_overlap
from ._task_pair import TaskPair

Classes = tuple[tuple[int, ...], tuple[int, ...]]


@functools.cache
def standardized_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 8 x 8 digit images of `sklearn.datasets.load_digits`, standardized pixel by pixel.

    **Returns:** inputs (1797, 64), each pixel shifted and scaled to mean 0 and variance 1 over
    the whole data set (`sklearn.preprocessing.scale`; the 3 pixels that are 0 in every image
    stay 0), and the digits (1797,) they show.
    """
    X, digit = sklearn.datasets.load_digits(return_X_y=True)
    return sklearn.preprocessing.scale(X), digit


def digits_pair(
    key: PRNGKeyArray,
    *,
    Ps: int,
    Pt: int,
    P0: int,
    source: Classes = ((0, 2, 4), (1, 3)),
    target: Classes = ((6, 8), (5, 7, 9)),
) -> TaskPair:
    """Two binary tasks on handwritten digits; by default the parity of 0-4, then of 5-9.

    Each task is a pair (digits labelled +1, digits labelled -1). The default source is the
    parity of the digits 0-4 (even +1, odd -1), the default target the parity of 5-9; other
    splits are e.g. `source=((0,), (1,))`, `target=((0,), (7,))` (a shared class), or the same
    classes with the labels swapped. A digit may appear in both tasks, with either label.

    Inputs are the 64 pixels of `sklearn.datasets.load_digits`, standardized with the
    statistics of all 1797 images (so that a pixel value means the same in both tasks; no
    label enters), N0 = 64. A random permutation of all images (from `key`) is scanned in
    order: the source training set takes the first Ps images of source digits, the target
    training set the first Pt of the remaining images of target digits, the test set the next
    P0. The three sets are thus disjoint, and their class proportions are those of the data
    set up to sampling (about 180 images per digit).

    **Arguments:**
    - `key`: a `jax.random` key; the same key gives the same pair.
    - `Ps`, `Pt`, `P0`: numbers of source training, target training and target test images
      (static integers >= 1); Ps at most the images of source digits, and Pt + P0 at most
      those of target digits left after the source took its share of shared digits.
    - `source`, `target`: (positive digits, negative digits), tuples of distinct digits 0-9.

    **Returns:** a `TaskPair` with `overlaps` "input", and `params` "source", "target" (as
    given) and "index_s" (Ps,), "index_t" (Pt,), "index_0" (P0,): the rows of
    `load_digits` each set holds. Runs under jit with everything but `key` static.
    """
    Ps, Pt, P0 = (_checks.count(n, v) for n, v in (("Ps", Ps), ("Pt", Pt), ("P0", P0)))
    source, target = _check_classes("source", source), _check_classes("target", target)
    X, digit = standardized_digits()
    in_s, in_t = (np.isin(digit, sum(c, ())) for c in (source, target))
    shared = int(np.sum(in_s & in_t))
    if Ps > in_s.sum():
        raise ValueError(f"Ps must be at most {in_s.sum()} (the images of digits {source}), got {Ps}")
    if Pt + P0 > in_t.sum() - min(Ps, shared):
        raise ValueError(
            f"Pt + P0 must be at most {in_t.sum() - min(Ps, shared)} (the images of digits {target}, "
            f"less those the source may take), got {Pt + P0}"
        )

    in_s, in_t = jnp.asarray(in_s), jnp.asarray(in_t)
    order = jax.random.permutation(key, len(digit))
    index_s = order[jnp.nonzero(in_s[order], size=Ps)[0]]
    taken = jnp.zeros(len(digit), bool).at[index_s].set(True)
    index_t0 = order[jnp.nonzero(in_t[order] & ~taken[order], size=Pt + P0)[0]]
    index_t, index_0 = index_t0[:Pt], index_t0[Pt:]

    def labels(index, classes):
        return jnp.where(jnp.isin(jnp.asarray(digit)[index], jnp.array(classes[0])), 1.0, -1.0)

    Xs, Xt, X0 = (jnp.asarray(X)[i] for i in (index_s, index_t, index_0))
    return TaskPair(
        Xs,
        labels(index_s, source),
        Xt,
        labels(index_t, target),
        X0,
        labels(index_0, target),
        overlaps={"input": input_overlap(Xs, Xt)},
        params=dict(source=source, target=target, index_s=index_s, index_t=index_t, index_0=index_0),
    )


def _check_classes(name: str, classes) -> Classes:
    """`classes` as a pair of non-empty tuples of distinct digits 0-9, else a ValueError."""
    message = (
        f"{name} must be (positive digits, negative digits): two non-empty tuples of distinct "
        f"digits 0-9, got {classes!r}"
    )
    try:
        positive, negative = (tuple(operator.index(d) for d in group) for group in classes)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    digits = positive + negative
    if not positive or not negative or len(set(digits)) != len(digits) or not set(digits) <= set(range(10)):
        raise ValueError(message)
    return positive, negative
