"""Command line: `jaxtl` (or `python -m jaxtl`) with no arguments runs the main job;
`jaxtl sweep|optimize|compare CONFIG` run the jobs of a TOML configuration (`_jobs`).

The main job builds a small teacher-student regression task, solves the single-task
kernel-renormalization theory over a grid of widths, prints a table (N1, alpha = P/N1, Q*,
test error, NNGP test error) and writes it as CSV.
"""

import argparse
import csv
import difflib
import sys

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, tasks

from . import _jobs
from ..theory._single_task import single_task

_DEFAULT_WIDTHS = "25,50,100,200,400,800,1600,3200"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each option; the description and the list of jobs as written."""


def _parser() -> argparse.ArgumentParser:
    jobs = ",".join(_jobs.JOBS)
    p = argparse.ArgumentParser(
        prog="jaxtl",
        usage=f"%(prog)s [options]\n       %(prog)s {{{jobs}}} CONFIG [--force] [--no-progress]\n"
        f"       %(prog)s {{{jobs}}} --example",
        description="With no job, the main job: the single-task kernel-renormalization theory over a grid of\n"
        "widths, on a built-in teacher-student task (Gaussian inputs, labels tanh(gain w.x/sqrt(N0))\n"
        "+ noise), printed and written as CSV (the options below).",
        epilog="jobs on a TOML configuration (jaxtl JOB --help tells more):\n"
        + "".join(f"  {job:<10}{line}\n" for job, line in _jobs.DESCRIPTIONS.items())
        + "`jaxtl JOB --example > JOB.toml` writes a complete configuration. A job checks all of it\n"
        "before computing, and keeps existing output files unless given --force.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--output", default="jaxtl_single_task.csv", help="CSV file to write")
    p.add_argument("--widths", default=_DEFAULT_WIDTHS, help="comma-separated hidden widths N1")
    p.add_argument("--P", type=int, default=200, help="training-set size")
    p.add_argument("--P0", type=int, default=1000, help="test-set size")
    p.add_argument("--N0", type=int, default=100, help="input dimension")
    p.add_argument("--temperature", type=float, default=0.05, help="temperature T")
    p.add_argument("--lambda0", type=float, default=1.0, help="first-layer prior precision")
    p.add_argument("--lambda1", type=float, default=1.0, help="readout prior precision")
    p.add_argument("--activation", default="erf", help="erf, identity or tanh")
    p.add_argument("--gain", type=float, default=2.0, help="teacher gain")
    p.add_argument("--noise", type=float, default=0.1, help="label noise standard deviation")
    p.add_argument("--seed", type=int, default=0, help="random seed of the task")
    return p


def _unknown_job(name: str) -> str:
    """What to say about `jaxtl NAME ...` when NAME is no job."""
    close = difflib.get_close_matches(name, _jobs.JOBS, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return (f"unknown job {name!r}{hint}; the jobs are {', '.join(_jobs.JOBS)} (jaxtl JOB CONFIG), and jaxtl "
            "with no job runs the main job")


def _widths(text: str) -> np.ndarray:
    try:
        return np.array([float(w) for w in text.split(",")])
    except ValueError:
        raise ValueError(f"--widths must be comma-separated numbers, got {text!r}") from None


def width_table(args: argparse.Namespace) -> list[dict]:
    """Solve the theory at each width of `args.widths`; one row per width."""
    pair = tasks.teacher_pair(
        jax.random.key(args.seed), Ps=args.P, Pt=1, P0=args.P0, N0=args.N0, gain=args.gain, noise=args.noise
    )
    data = (pair.Xs, pair.ys, pair.X0, pair.y0)
    params = dict(temperature=args.temperature, lambda0=args.lambda0, lambda1=args.lambda1, activation=args.activation)

    # The data are arguments, not closed over: XLA would constant-fold a closed-over P x P0
    # kernel product, which takes seconds and prints an alarming error line.
    def solve(X, y, X0, y0, width):
        sol = single_task(X, y, width=width, throw=False, **params)
        return sol.Q, sol.test_error(X0, y0).total, sol.converged

    _, nngp_error, _ = solve(*data, jnp.inf)  # eager: a bad parameter raises a ValueError here
    widths = _checks.positive("--widths", _widths(args.widths), allow_inf=True)
    Q, error, converged = jax.jit(jax.vmap(solve, (None, None, None, None, 0)))(*data, widths)
    return [
        dict(N1=w, alpha=args.P / w, Q=float(q), test_error=float(e), nngp_test_error=float(nngp_error), converged=bool(c))
        for w, q, e, c in zip(np.asarray(widths), Q, error, converged)
    ]


def main(argv: "list[str] | None" = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in _jobs.JOBS:
        return _jobs.run(argv[0], argv[1:])
    parser = _parser()
    if argv and not argv[0].startswith("-"):
        parser.error(_unknown_job(argv[0]))
    args = parser.parse_args(argv)
    try:
        rows = width_table(args)
    except ValueError as error:
        print(f"jaxtl: error: {error}", file=sys.stderr)
        return 2
    print(f"single-task theory, P = {args.P}, N0 = {args.N0}, T = {args.temperature}, {args.activation}")
    print(f"{'N1':>8} {'alpha':>8} {'Q*':>9} {'test error':>11} {'NNGP error':>11} {'converged':>10}")
    for r in rows:
        print(f"{r['N1']:>8g} {r['alpha']:>8.3f} {r['Q']:>9.4f} {r['test_error']:>11.5f} "
              f"{r['nngp_test_error']:>11.5f} {str(r['converged']):>10}")
    with open(args.output, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.output}")
    return 0
