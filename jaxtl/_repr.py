"""Result objects that show their numbers: `TestError(total=0.381, bias2=0.1775, variance=0.2035)`
rather than equinox's `TestError(total=f64[], ...)`."""

import dataclasses
from typing import ClassVar

import equinox as eqx
import jax
import numpy as np
from equinox._enum import EnumerationItem

_SMALL = 8  # arrays of at most this many entries are shown by value


def show(value) -> str:
    """One value as a repr shows it: numbers to 4 significant digits, arrays of at most
    `_SMALL` entries by value, larger ones and traced ones by dtype and shape (`f64[200]`),
    anything else by its own repr."""
    if isinstance(value, EnumerationItem) and not isinstance(value._value, jax.core.Tracer):
        return _outcome(value)
    if isinstance(value, jax.core.Tracer) or (isinstance(value, (jax.Array, np.ndarray)) and value.size > _SMALL):
        return eqx.tree_pformat(value)
    if not isinstance(value, (jax.Array, np.ndarray, np.generic, int, float)):
        return repr(value)
    array = np.asarray(value)
    if array.dtype.kind in "iub":
        return str(array.tolist())
    if array.ndim == 0:
        return f"{float(array):.4g}"
    text = np.array2string(array, separator=", ", formatter={"float_kind": lambda v: f"{v:.4g}"})
    return text.replace("\n", "")  # rows of a matrix on one line


def _outcome(item: EnumerationItem) -> str:
    """An outcome (`jaxtl.RESULTS`) by its name, e.g. `overlap_not_psd`; a batch as a list."""
    names = {int(i._value): n for n, i in item._enumeration._name_to_item.items()}
    codes = np.asarray(item._value)
    return names[int(codes)] if codes.ndim == 0 else str([names[int(c)] for c in codes.ravel()])


class Readable(eqx.Module):
    """A base of result objects whose repr shows their numbers (`show`).

    `_shown` names the attributes (fields or properties) the repr lists, in order; all
    fields when empty.
    """

    _shown: ClassVar["tuple[str, ...]"] = ()

    def __repr__(self) -> str:
        names = self._shown or tuple(f.name for f in dataclasses.fields(self))
        return f"{type(self).__name__}({', '.join(f'{n}={show(getattr(self, n))}' for n in names)})"
