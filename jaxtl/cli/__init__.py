"""The command line: `jaxtl` runs the main job, `jaxtl sweep|optimize|compare CONFIG` the jobs."""

from ._main import main as main
