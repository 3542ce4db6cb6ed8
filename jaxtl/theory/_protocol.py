"""What a theory declares so that `jaxtl.sweep`, `jaxtl.optimize`, the command line and the
figures serve it without knowing it: its parameters, its outputs, and one function from a
point (a task pair and values of its parameters) to its outputs.

A theory is an `equinox.Module` subclass of `Theory` (README.md in this folder, section 6, says
how each of jaxtl's theories is solved). For example, a theory with one order parameter Q that
minimizes V(Q) = Q^2/2 - s Q:

    class Quadratic(jaxtl.theory.Theory):
        name = "quadratic"
        parameters = (jaxtl.theory.Number("stiffness", "(0, inf)", "s, the linear coefficient"),)
        outputs = (jaxtl.theory.Output("Q", "order parameter Q", "1"),)

        def evaluate(self, pair, parameters, shared):
            return jaxtl.theory.Evaluation({"Q": parameters["stiffness"]}, jaxtl.RESULTS.successful, 0)

    jaxtl.sweep(jaxtl.tasks.teacher_pair, theory=Quadratic(), stiffness=[1.0, 2.0], Ps=10, Pt=10, P0=10, N0=5)
"""

import abc
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PyTree

from .. import _checks
from ..tasks._task_pair import TaskPair
from ._solve import RESULTS


class Number(eqx.Module):
    """A real parameter of a theory: checked to lie in `interval`, vmapped over in sweeps,
    differentiable in `jaxtl.optimize`.

    - `name`: its keyword, e.g. "temperature".
    - `interval`: the allowed values, as written in mathematics: "(0, inf)", "(0, inf]"
      (inf allowed), "[0, inf]", "[-1, 1]".
    - `description`: what it is, with its symbol and unit, e.g. "temperature T (units of the loss)".
    - `default`: its value when not given; None: it must be given (unless `fallback`).
    - `fallback`: the name of another parameter whose value it takes, point by point, when it
      is not given (e.g. the source temperature takes the target's); None: no fallback.
    """

    name: str
    interval: str
    description: str
    default: "float | None" = None
    fallback: "str | None" = None

    def check(self, values) -> Float[Array, "*s"]:
        """`values` as a float array, or a ValueError naming the parameter and the interval."""
        low, high, closed = _parse(self.interval)
        return _checks.within(self.name, values, low, high, closed=closed)


class Option(eqx.Module):
    """A parameter that fixes the code, not a number (e.g. the activation): one compiled
    program per value in sweeps, never optimized.

    - `name`, `description`, `default` as for `Number` (`default` None: it must be given).
    - `resolve`: value -> what the theory receives (e.g. "erf" -> `jaxtl.kernels.Erf()`),
      raising a ValueError naming the parameter for a bad value.
    """

    name: str
    description: str
    default: Any
    resolve: Callable[[Any], Any] = lambda value: value


class Output(eqx.Module):
    """A quantity a theory computes at each point: `name`, `description` (with its symbol),
    `unit` ("1" for dimensionless, "labels^2" for errors), and `better`: "higher" or "lower"
    if it can be an objective of `jaxtl.optimize`, None otherwise."""

    name: str
    description: str
    unit: str
    better: "str | None" = None


STATUS_OUTPUTS = (
    Output("converged", "the solve converged to a physical stationary point", "1"),
    Output("status", "outcome of the solve (jaxtl.RESULTS; flag_meanings lists them)", "1"),
    Output("num_steps", "solver steps", "1"),
)
"""The outputs every theory has, after its own: filled from its `Evaluation`."""


class Evaluation(eqx.Module):
    """A theory at one point: `values` (output name -> scalar, for every output the theory
    declares), how the solve ended (`result`, a `jaxtl.RESULTS`) and its `num_steps`."""

    values: "dict[str, Float[Array, '']]"
    result: RESULTS
    num_steps: "Int[Array, ''] | int"


class Theory(eqx.Module):
    """The protocol every theory follows (module docstring).

    **Class attributes:**
    - `name`: a short name ("transfer"), how the command line and `theory=` name it.
    - `parameters`: its `Number`s and `Option`s.
    - `outputs`: its `Output`s (without `STATUS_OUTPUTS`, which every theory has).
    - `size`: the task's training-set size that `alpha` sets, P = round(alpha N1) (e.g. "Pt").
    - `objective`: the output `jaxtl.optimize` uses by default; None (the default) means the
      one output with a direction (`Output.better`), when there is exactly one.
    - `innermost`: parameters that sweeps vmap innermost, after every other axis (for work
      that does not depend on them to be done once per value of the others); () by default.
    - `max_chunk`: the most points per device a sweep solves at once (default 32).

    **Methods:**
    - `evaluate(pair, parameters, shared) -> Evaluation`: the theory at one point; a pure JAX
      function of `pair` (a `jaxtl.tasks.TaskPair`), `parameters` (name -> float64 scalar for
      each `Number`, the resolved value for each `Option`) and `shared`, vmapped by sweeps and
      differentiated by `jaxtl.optimize`.
    - `shared(pair, parameters)`: the part of the solve that points may share (the source's
      solve of the transfer theory); computed once for a whole sweep when it does not depend
      on the swept parameters. None by default.
    - `point_bytes(Ps, Pt, P0, varying)`: a rough count of the bytes one point keeps in a
      vmapped sweep over the numbers named in `varying`, for the chunk size; by default the
      transfer theory's, 40 Pt x Pt, 8 Pt x P0 and 4 Pt x Ps arrays (and 10 Ps x Ps where
      lambda0 varies).
    """

    name: eqx.AbstractClassVar[str]
    parameters: eqx.AbstractClassVar["tuple[Number | Option, ...]"]
    outputs: eqx.AbstractClassVar["tuple[Output, ...]"]
    size: ClassVar[str] = "Pt"
    objective: ClassVar["str | None"] = None
    innermost: ClassVar["tuple[str, ...]"] = ()
    max_chunk: ClassVar[int] = 32

    def point_bytes(self, Ps: int, Pt: int, P0: int, varying: "tuple[str, ...]") -> int:
        return 8 * (40 * Pt**2 + 8 * Pt * P0 + 4 * Pt * Ps + (10 * Ps**2 if "lambda0" in varying else 0))

    def shared(self, pair: TaskPair, parameters: Mapping[str, Any]) -> PyTree:
        return None

    @abc.abstractmethod
    def evaluate(self, pair: TaskPair, parameters: Mapping[str, Any], shared: PyTree) -> Evaluation:
        raise NotImplementedError


def all_outputs(theory: Theory) -> "tuple[Output, ...]":
    """The theory's outputs followed by `STATUS_OUTPUTS`: the one list of output names."""
    return (*theory.outputs, *STATUS_OUTPUTS)


def outputs(theory: Theory, pair: TaskPair, parameters: Mapping[str, Any], shared: PyTree) -> "dict[str, Array]":
    """Every output of `theory` at one point: its values where the solve converged to a
    physical point and NaN elsewhere (so that no unphysical number enters a map, a minimum or
    an optimizer step), then `converged`, `status` (the code of `result`) and `num_steps`."""
    evaluation = theory.evaluate(pair, parameters, shared)
    names = [o.name for o in theory.outputs]
    if sorted(evaluation.values) != sorted(names):
        raise ValueError(f"theory {theory.name!r} declares the outputs {names} but evaluated {sorted(evaluation.values)}")
    converged = evaluation.result == RESULTS.successful
    values = {n: jnp.where(converged, jnp.asarray(evaluation.values[n], float), jnp.nan) for n in names}
    status = dict(converged=converged, status=evaluation.result._value, num_steps=jnp.asarray(evaluation.num_steps))
    return values | status


def _parse(interval: str) -> "tuple[float, float, tuple[bool, bool]]":
    """"(0, inf]" -> (0.0, inf, (False, True))."""
    text = interval.replace(" ", "")
    try:
        low, high = (float(v) for v in text[1:-1].split(","))
        if text[0] not in "([" or text[-1] not in ")]" or not low <= high or math.isnan(low + high):
            raise ValueError
    except ValueError:
        raise ValueError(f"interval must be written like '(0, inf]' or '[-1, 1]', got {interval!r}") from None
    return low, high, (text[0] == "[", text[-1] == "]")
