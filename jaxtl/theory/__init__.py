"""The theories, and the protocol they follow.

Each theory is one module here: the kernels (`_kernel`), the one stationary-point solver
(`_solve`), and the theories built on them, `_single_task`, `_transfer` and `_feature_transfer`
(on the readout theory `_readout` and the features' covariances `_feature_covariances`), and
`_adaptive_kernel` and `_adaptive_transfer` (on the single-site measure `_single_site`), and the
closed form of fine-tuning a linear network (`_fine_tuning`, plain functions, not a `Theory`),
and the deep single task (`_deep_single_task`, `jaxtl.deep`) and its transfer through a coupled
first layer (`_deep_transfer`, on `_transfer`'s solver).
`README.md` in this folder writes down the equations each module implements.

A theory is a `Theory`: it declares its parameters (`Number`, `Option`), its outputs (`Output`)
and evaluates a point (`Evaluation`); `jaxtl.sweep`, `jaxtl.optimize`, the command line and
`jaxtl.plot` serve any theory through that protocol (`_protocol`'s docstring has a complete
example). `THEORIES` names the built-in ones.
"""

from ._protocol import (
    Evaluation as Evaluation,
    Number as Number,
    Option as Option,
    Output as Output,
    Theory as Theory,
)
from ._adaptive_kernel import AdaptiveKernel as AdaptiveKernel
from ._adaptive_transfer import AdaptiveTransfer as AdaptiveTransfer
from ._deep_single_task import DeepSingleTask as DeepSingleTask
from ._deep_transfer import DeepTransfer as DeepTransfer
from ._feature_transfer import FeatureTransfer as FeatureTransfer
from ._single_task import SingleTask as SingleTask
from ._transfer import Transfer as Transfer

THEORIES = {
    theory.name: theory
    for theory in (Transfer(), SingleTask(), FeatureTransfer(), AdaptiveKernel(), AdaptiveTransfer(), DeepSingleTask(),
                   DeepTransfer())
}
"""The built-in theories by name: "transfer" (the default of sweeps), "single_task",
"feature_transfer" (transferred features on the hidden manifold model), "adaptive_kernel" and
"adaptive_transfer" (infinite-width feature learning, with an elastic coupling),
"deep_single_task" (L hidden layers of equal width), "deep_transfer" (two hidden layers, the
first coupled)."""


def get(theory: "str | Theory") -> Theory:
    """A theory given by its name in `THEORIES` or as a `Theory`; a ValueError otherwise."""
    if isinstance(theory, Theory):
        return theory
    if isinstance(theory, str) and theory in THEORIES:
        return THEORIES[theory]
    raise ValueError(f"theory must be one of {', '.join(map(repr, THEORIES))} or a jaxtl.theory.Theory, got {theory!r}")
