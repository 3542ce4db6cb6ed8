import csv

import jax
import numpy as np
import pytest

import jaxtl
from jaxtl._cli import main


def test_main_job_writes_the_width_table(tmp_path, capsys):
    out = tmp_path / "table.csv"
    args = ["--output", str(out), "--widths", "20,80,inf", "--P", "40", "--P0", "30", "--N0", "20", "--seed", "3"]
    assert main(args) == 0
    rows = list(csv.DictReader(open(out)))
    assert [float(r["N1"]) for r in rows] == [20.0, 80.0, np.inf]
    printed = capsys.readouterr().out
    assert "NNGP error" in printed and printed.count("True") == 3
    # The table holds what the library computes for the same task.
    pair = jaxtl.tasks.teacher_pair(jax.random.key(3), Ps=40, Pt=1, P0=30, N0=20, gain=2.0, noise=0.1)
    for r in rows:
        sol = jaxtl.single_task(pair.Xs, pair.ys, width=float(r["N1"]), temperature=0.05)
        np.testing.assert_allclose(float(r["Q"]), sol.Q, rtol=1e-10)
        np.testing.assert_allclose(float(r["test_error"]), sol.test_error(pair.X0, pair.y0).total, rtol=1e-10)
    assert float(rows[-1]["Q"]) == 1.0
    assert float(rows[-1]["test_error"]) == pytest.approx(float(rows[0]["nngp_test_error"]), rel=1e-12)


@pytest.mark.parametrize("args, match", [
    (["--temperature", "-1"], "temperature must lie in"),
    (["--widths", "10,-3"], "--widths must lie in"),
    (["--widths", "ten"], "--widths must be comma-separated"),
    (["--activation", "relu"], "activation must be one of"),
])
def test_bad_arguments_are_reported(tmp_path, capsys, args, match):
    assert main(["--output", str(tmp_path / "t.csv"), "--P", "10", "--P0", "5", "--N0", "5", *args]) == 2
    assert match in capsys.readouterr().err
