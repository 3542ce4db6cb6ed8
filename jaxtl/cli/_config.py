"""TOML configurations of the command line's jobs (`jaxtl sweep|optimize|compare CONFIG`).

`EXAMPLES` holds a complete, commented configuration per job: every key and its default
(`jaxtl <job> --example` prints it). A configuration file is read with `load`, which checks all
of it before anything is computed: an unknown section, key or parameter, a value of the wrong
type (a string where a number is expected), a job setting out of range, an output folder that
does not exist or is not writable, an output file that exists already (unless forced), or a
missing file raises a `ConfigError` that names it.
"""

import inspect
import os
import pathlib
import tomllib
from typing import Any

import numpy as np

from .. import _problem, tasks, theory

TASKS = {"teacher_pair": tasks.teacher_pair, "hidden_manifold_pair": tasks.hidden_manifold_pair,
         "digits_pair": tasks.digits_pair, "mnist_pair": tasks.mnist_pair}  # fmt: skip

_COMMON = """\
# The task: a generator of jaxtl.tasks (teacher_pair, hidden_manifold_pair, digits_pair or
# mnist_pair), built with jax.random.key(seed).
task = "teacher_pair"
seed = 0
# The theory: "transfer" (source and target coupled by gamma), "single_task" (the target
# alone{only}), "feature_transfer" (a readout on the transferred first layer of a trained
# network; hidden_manifold_pair with readout = "sign"), "adaptive_kernel" and "adaptive_transfer"
# (infinite-width feature learning: feature_strength, coupling delta, reading), or
# "deep_single_task" (depth hidden layers of one width; action "vanilla", "nested" or "full"), or
# "deep_transfer" (two hidden layers of one width, the first coupled by gamma).
theory = "transfer"
# Results go to <output>.nc (netCDF, an xarray Dataset) and <output>.png (a figure), the
# suffixes appended to the name as given; existing files are kept (the job stops before it
# computes) unless the command line says --force.
output = "{output}"

# The generator's arguments and the theory's: width (N1), temperature (T, the target's),
# coupling (gamma; inf allowed; transfer only), source_temperature (T_s; transfer only; the
# target's T by default), lambda0 = 1, lambda1 = 1, activation = "erf" by default;
# alpha = Pt / width may replace Pt. {axes}
[parameters]
"""

EXAMPLES = {
    "sweep": _COMMON.format(
        output="jaxtl_sweep", only="",
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
# source_temperature = 0.05   # transfer: the source's T_s (the target's temperature when left out)
coupling = {logspace = [-2, 2, 21]}

[sweep]
chunk_size = 0          # points per device solved at once; 0: automatic (about 2 GiB, at most 64 for transfer)
variable = "benefit"    # what the figure shows (any output of the theory)
""",
    "optimize": _COMMON.format(
        output="jaxtl_optimize", only="",
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
# source_temperature = 0.05   # transfer: the source's T_s (the target's temperature when left out)
coupling = 1.0

[optimize]
over = {coupling = [0.01, 1000.0], temperature = [0.001, 1.0]}   # parameter = [low, high]
objective = "benefit"   # transfer: benefit, benefit_prior, benefit_source (maximized), test_error,
                        # bias2, variance (minimized); single_task: test_error, bias2, variance
steps = 50              # gradient steps (steps + 1 theory solves)
learning_rate = 0.1     # Adam, in the unconstrained coordinates (log scale for positive ranges)
""",
    "compare": _COMMON.format(
        output="jaxtl_compare", only="; compare runs the transfer theory only",
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
# source_temperature = 0.05   # transfer: the source's T_s (the target's temperature when left out)
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


def load(path: "str | pathlib.Path", job: str, *, force: bool = False) -> "dict[str, Any]":
    """Read and check a configuration of `job`; the sections other than [parameters] are
    completed with the example's defaults. Axis specifications are turned into arrays.

    Everything that can be checked before computing is checked here (module docstring); an
    existing `<output>.nc` or `<output>.png` is an error unless `force`.
    """
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
    if out["theory"] not in theory.THEORIES:
        raise ConfigError(f"{path}: theory must be one of {', '.join(theory.THEORIES)}, got {out['theory']!r}")
    try:
        _check_parameters(TASKS[out["task"]], theory.THEORIES[out["theory"]], out["parameters"])
        _SETTINGS_CHECKS[job](out)
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None
    _check_output(path, out["output"], force)
    return out


def output_files(output: str) -> "tuple[pathlib.Path, pathlib.Path]":
    """`<output>.nc` and `<output>.png`: the suffixes are appended to the name as given, so
    that `run_T0.05` gives `run_T0.05.nc` (not `run_T0.nc`)."""
    return pathlib.Path(output + ".nc"), pathlib.Path(output + ".png")


def compare_points(task, parameters: "dict[str, Any]") -> "tuple[str | None, list[dict[str, Any]]]":
    """What `jaxtl compare` runs: the parameter given as a list (None if none) and one point
    per value of it (every parameter a single value, the theory's defaults added). A
    ValueError names a second list, a parameter that cannot be a list here, or a value out of
    range (all values are checked, before any network is sampled)."""
    lists = [n for n, v in parameters.items() if isinstance(v, list)]
    if len(lists) > 1:
        raise ValueError(f"compare takes at most one list in [parameters], got {', '.join(lists)}")
    axis = lists[0] if lists else None
    values = parameters[axis] if lists else [None]
    kind = _problem.kinds(task, theory.THEORIES["transfer"], parameters)
    if axis is not None and kind[axis] == "static" and axis not in ("alpha", "Pt", "Ps"):
        raise ValueError(f"compare: {axis} cannot be a list here")
    points = []
    for value in values:
        transfer, point, kind = _problem.resolve(task, "transfer", parameters | ({axis: value} if lists else {}))
        _problem.check(task, transfer, kind, point)
        width = point["width"]
        if not float(width).is_integer() or width < 1:
            raise ValueError(f"parameters.width must be a whole number of hidden units for the networks, got {width}")
        points.append(point)
    return axis, points


def _typed(path, key: str, value, default):
    """`value`, checked to have the type of `default` (an int is accepted for a float)."""
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: {key} must be of type {kind.__name__}, got {value!r}")
    return value


def _is_number(value) -> bool:
    """A TOML integer or float (a boolean is not a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_parameters(task, theory, parameters: "dict[str, Any]") -> None:
    """Every parameter known to the theory and the task (`_problem.kinds`) and of its type: a
    number (or a list of numbers) for the theory's numbers, alpha, the generator's sizes and
    knobs; a string (or a list of them) for the options whose default is one (activation,
    readout)."""
    _problem.kinds(task, theory, parameters)
    arguments, own = _problem.generator_arguments(task), _problem.declared(theory)
    for name, value in parameters.items():
        if name in own:
            default = own[name].default if own[name].default is not None else 0.0
        elif name in arguments:
            default = arguments[name].default
        else:  # the theory's required numbers, and alpha
            default = 0.0
        if default is inspect.Parameter.empty or _is_number(default):
            expected, fits = "a number", _is_number
        elif isinstance(default, str):
            expected, fits = "a string", lambda v: isinstance(v, str)
        else:
            continue
        if not all(fits(v) for v in (value if isinstance(value, list) else [value])):
            raise ValueError(f"parameters.{name} must be {expected} or a list of them, got {value!r}")


def _check_sweep(config) -> None:
    """[sweep]: the figure's variable is an output of the sweep; chunk_size >= 0."""
    variable, names = config["sweep"]["variable"], _problem.output_names(theory.THEORIES[config["theory"]])
    if variable not in names:
        raise ValueError(f"sweep.variable must be one of {', '.join(names)}, got {variable!r}")
    if config["sweep"]["chunk_size"] < 0:
        raise ValueError(f"sweep.chunk_size must be >= 0 (0: automatic), got {config['sweep']['chunk_size']}")


def _check_optimize(config) -> None:
    """[optimize]: a known objective; each bound pair is two numbers (`jaxtl.optimize` checks
    the rest)."""
    objective, objectives = config["optimize"]["objective"], _problem.objectives(theory.THEORIES[config["theory"]])
    if objective not in objectives:
        raise ValueError(f"optimize.objective must be one of {', '.join(objectives)}, got {objective!r}")
    for name, bounds in config["optimize"]["over"].items():
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(_is_number(b) for b in bounds)):
            raise ValueError(f"optimize.over.{name} must be [low, high], two numbers, got {bounds!r}")


def _check_compare(config) -> None:
    """[compare]: the transfer theory; the samplers' counts in range; every point of
    [parameters] (`compare_points`)."""
    if config["theory"] != "transfer":
        raise ValueError(f"compare runs the transfer theory against networks: theory must be \"transfer\", got {config['theory']!r}")
    settings = config["compare"]
    for name, value in settings.items():
        lowest = 0 if name.endswith("burn_in") else 2 if name == "target_chains" else 1
        if not isinstance(value, bool) and value < lowest:
            raise ValueError(f"compare.{name} must be an integer >= {lowest}, got {value}")
    compare_points(TASKS[config["task"]], config["parameters"])


_SETTINGS_CHECKS = {"sweep": _check_sweep, "optimize": _check_optimize, "compare": _check_compare}


def _check_output(path, output: str, force: bool) -> None:
    """The output names a file in an existing, writable folder; its files do not exist
    unless `force`."""
    folder = pathlib.Path(output).parent
    if not pathlib.Path(output).name or output.endswith(("/", os.sep)):
        raise ConfigError(f"{path}: output must name a file (without suffix), got {output!r}")
    if not folder.is_dir():
        raise ConfigError(f"{path}: output: {str(folder)!r} is not an existing folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{path}: output: the folder {str(folder)!r} is not writable")
    for file in output_files(output):
        if file.exists() and not force:
            raise ConfigError(f"{path}: output: {str(file)!r} exists already; pass --force to overwrite it, "
                              "or choose another output")


def _axis(path, name: str, value):
    """A parameter value: a number or string as it is, a list as a list, {linspace = [...]} or
    {logspace = [...]} as the array numpy makes of it."""
    if not isinstance(value, dict):
        return value
    if len(value) != 1 or next(iter(value)) not in ("linspace", "logspace"):
        raise ConfigError(f"{path}: parameters.{name} must be a value, a list, {{linspace = [start, stop, num]}} "
                          f"or {{logspace = [start, stop, num]}}, got {value!r}")
    (kind, spec), = value.items()
    if not (isinstance(spec, list) and len(spec) == 3 and all(_is_number(x) for x in spec[:2])
            and isinstance(spec[2], int) and not isinstance(spec[2], bool) and spec[2] >= 1):
        raise ConfigError(f"{path}: parameters.{name}.{kind} must be [start, stop, num], numbers with num an "
                          "integer >= 1, "
                          f"got {spec!r}")
    return list(getattr(np, kind)(float(spec[0]), float(spec[1]), spec[2]))
