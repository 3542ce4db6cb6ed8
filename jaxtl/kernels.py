"""Kernels of one-hidden-layer networks (jaxtl/theory/README.md, section 2).

`gram` is the one kernel function: every theory in jaxtl (single task, transfer) builds its
kernels from it with the weight moments it needs.
"""

from .theory._activation import (
    Activation as Activation,
    Erf as Erf,
    Identity as Identity,
    Sign as Sign,
    Tanh as Tanh,
    get_activation as get_activation,
)
from .theory._kernel import gram as gram, gram_diag as gram_diag, nngp as nngp
