"""TOML configurations of the command line's jobs (`jaxtl sweep|optimize|compare CONFIG`).

`EXAMPLES` holds a complete, commented configuration per job: every key and its default
(`jaxtl <job> --example` prints it). A configuration file is read with `load`, which checks it
against the example: an unknown section or key, a value of the wrong type, or a missing file
raises a `ConfigError` that names it.
"""

import pathlib
import tomllib
from typing import Any

import numpy as np

from . import tasks

TASKS = {"teacher_pair": tasks.teacher_pair, "hidden_manifold_pair": tasks.hidden_manifold_pair,
         "digits_pair": tasks.digits_pair}  # fmt: skip

_COMMON = """\
# The task: a generator of jaxtl.tasks (teacher_pair, hidden_manifold_pair or digits_pair),
# built with jax.random.key(seed).
task = "teacher_pair"
seed = 0
# Results go to <output>.nc (netCDF, an xarray Dataset) and <output>.png (a figure).
output = "{output}"

# The generator's arguments and the theory's (jaxtl.transfer): width (N1), temperature (T),
# coupling (gamma; inf allowed), lambda0 = 1, lambda1 = 1, activation = "erf" by default;
# alpha = Pt / width may replace Pt. {axes}
[parameters]
"""

EXAMPLES = {
    "sweep": _COMMON.format(
        output="jaxtl_sweep",
        axes="A value given as a list, or as\n# {linspace = [start, stop, num]} or "
        "{logspace = [start_exponent, stop_exponent, num]}, is a grid axis.",
    )
    + """\
Ps = 300
Pt = 80
P0 = 400
N0 = 100
gain = 2.0
noise = 0.1
rho = {linspace = [0.0, 1.0, 11]}
width = 200.0
temperature = 0.05
coupling = {logspace = [-2, 2, 21]}

[sweep]
chunk_size = 0          # points per device solved at once; 0: automatic (at most 16, about 2 GiB)
variable = "benefit"    # what the figure shows (any output of jaxtl.sweep)
""",
    "optimize": _COMMON.format(
        output="jaxtl_optimize",
        axes="The parameters optimized (see\n# [optimize]) start here, or mid-range if left out.",
    )
    + """\
Ps = 300
Pt = 80
P0 = 400
N0 = 100
gain = 2.0
noise = 0.1
rho = 1.0
width = 200.0
temperature = 0.05
coupling = 1.0

[optimize]
over = {coupling = [0.01, 1000.0], temperature = [0.001, 1.0]}   # parameter = [low, high]
objective = "benefit"   # benefit or benefit_source (maximized), test_error (minimized)
steps = 50              # gradient steps (steps + 1 theory solves)
learning_rate = 0.1     # Adam, in the unconstrained coordinates (log scale for positive ranges)
""",
    "compare": _COMMON.format(
        output="jaxtl_compare",
        axes="At most one parameter may be a list:\n# the theory and the networks at each of its "
        "values. The networks' width is an integer.",
    )
    + """\
Ps = 100
Pt = 30
P0 = 200
N0 = 50
gain = 2.0
noise = 0.1
rho = 1.0
width = 100
temperature = 0.05
coupling = [0.0, 1.0, 10.0, inf]

[compare]
source_chains = 16        # independent source chains
source_burn_in = 3000     # Langevin steps discarded per source chain
source_samples = 2        # source samples kept per chain (each anchors target chains)
source_thin = 1500        # steps between two kept source samples
target_chains = 2         # target chains per source sample (>= 2, for Q_tt)
target_burn_in = 3000
target_samples = 40
target_thin = 25
float32 = true            # networks in float32 (the theory is always float64)
""",
}


class ConfigError(ValueError):
    """A bad configuration: the message names the file and the key."""


def load(path: "str | pathlib.Path", job: str) -> "dict[str, Any]":
    """Read and check a configuration of `job`; the sections other than [parameters] are
    completed with the example's defaults. Axis specifications are turned into arrays."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    default = tomllib.loads(EXAMPLES[job])
    for key in config:
        if key not in default:
            raise ConfigError(f"{path}: unknown key {key!r} (allowed: {', '.join(default)})")
    out = {}
    for key, value in default.items():
        given = config.get(key, value)
        if key == "parameters":
            if "parameters" not in config:
                raise ConfigError(f"{path}: missing section [parameters]")
            out[key] = {n: _axis(path, n, v) for n, v in given.items()}
        elif isinstance(value, dict):
            if not isinstance(given, dict):
                raise ConfigError(f"{path}: {key} must be a section [{key}]")
            for k in given:
                if k not in value:
                    raise ConfigError(f"{path}: unknown key {k!r} in [{key}] (allowed: {', '.join(value)})")
            out[key] = {k: _typed(path, f"{key}.{k}", given.get(k, v), v) for k, v in value.items()}
        else:
            out[key] = _typed(path, key, given, value)
    if out["task"] not in TASKS:
        raise ConfigError(f"{path}: task must be one of {', '.join(TASKS)}, got {out['task']!r}")
    return out


def _typed(path, key: str, value, default):
    """`value`, checked to have the type of `default` (an int is accepted for a float)."""
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: {key} must be of type {kind.__name__}, got {value!r}")
    return value


def _axis(path, name: str, value):
    """A parameter value: a number or string as it is, a list as a list, {linspace = [...]} or
    {logspace = [...]} as the array numpy makes of it."""
    if not isinstance(value, dict):
        return value
    if len(value) != 1 or next(iter(value)) not in ("linspace", "logspace"):
        raise ConfigError(f"{path}: parameters.{name} must be a value, a list, {{linspace = [start, stop, num]}} "
                          f"or {{logspace = [start, stop, num]}}, got {value!r}")
    (kind, spec), = value.items()
    if not (isinstance(spec, list) and len(spec) == 3 and isinstance(spec[2], int) and spec[2] >= 1):
        raise ConfigError(f"{path}: parameters.{name}.{kind} must be [start, stop, num] with num an integer >= 1, "
                          f"got {spec!r}")
    return list(getattr(np, kind)(float(spec[0]), float(spec[1]), spec[2]))
