"""A forked (warm) kernel is the process a cold one would be, as far as a report can tell.

Each test runs ``tests/warm_probe.py``: a worker that starts kernels through the runner's kernel
manager and prints, from inside each kernel, what a report could see (its argv, import path,
folder, matplotlib backend and settings, NumPy's random state, which playbook it imports, its
parent). The same probe with ``PLAYBOOK_KERNELS=cold`` is the reference. Also checked: a forked
kernel ends through the interpreter's exit (``atexit`` handlers run, DuckDB's spill folder is
removed), its peak memory reaches its worker's ``RUSAGE_CHILDREN``, and anything that would make
a fork differ from a cold start (a kernel folder with a ``matplotlibrc``, a changed environment,
a missing folder) starts the kernel cold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playbook.runner.warm import ENV_SWITCH

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "tests" / "warm_probe.py"
# What a report can see of its process that must not depend on how its kernel was started.
SAME = ("argv0", "path", "cwd", "backend", "dpi", "playbook", "probe_var")


def probe(tmp_path: Path, mode: str, folder: Path, kernels: int = 1, megabytes: int = 0,
          worker_cwd: Path | None = None, **env: str) -> tuple[list[dict], dict]:
    marks = tmp_path / f"marks-{mode}"
    marks.mkdir(exist_ok=True)
    environ = {**os.environ, ENV_SWITCH: mode, "PROBE_MARKS": str(marks), **env}
    done = subprocess.run([sys.executable, str(PROBE), str(folder), str(kernels), str(megabytes)],
                          cwd=worker_cwd or tmp_path, env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # A kernel forked with DuckDB's threads live would abort at exit in C++ (see warm.serve).
    assert "terminate called" not in done.stderr, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    seen, worker = lines[:-1], lines[-1]
    assert len(seen) == kernels, done.stdout
    for kernel in seen:  # the kernel's interpreter ended as a cold one does
        assert kernel["spilled"], "the probe's sort did not spill; the spill check below proves nothing"
        assert (marks / f"atexit-{kernel['pid']}").exists(), f"{mode}: the kernel's atexit handlers did not run"
        assert not (marks / f"spill-{kernel['pid']}").exists(), f"{mode}: DuckDB's spill folder was left behind"
    return seen, worker


@pytest.fixture
def folders(tmp_path):
    """A kernel folder, and a worker folder holding what a fork must not pick up from it: a
    ``playbook`` package that fails to import and a matplotlibrc."""
    kernel, worker = tmp_path / "kernel", tmp_path / "worker"
    (worker / "playbook").mkdir(parents=True)
    (worker / "playbook" / "__init__.py").write_text("raise ImportError('the worker folder playbook')\n")
    (worker / "matplotlibrc").write_text("figure.dpi: 33\n")
    kernel.mkdir()
    return kernel, worker


def test_a_forked_kernel_sees_what_a_cold_one_sees(tmp_path, folders):
    kernel, worker = folders
    # An empty MPLBACKEND is inline in a kernel either way (ipykernel replaces it).
    warm, warm_worker = probe(tmp_path, "warm", kernel, kernels=2, worker_cwd=worker, MPLBACKEND="")
    cold, cold_worker = probe(tmp_path, "cold", kernel, kernels=1, worker_cwd=worker, MPLBACKEND="")
    for seen in warm:
        assert seen["parent"] != warm_worker["worker"], "the warm kernel was not forked"
        assert {k: seen[k] for k in SAME} == {k: cold[0][k] for k in SAME}
    assert cold[0]["parent"] == cold_worker["worker"]
    assert warm[0]["playbook"] == str(ROOT / "playbook" / "__init__.py")
    assert warm[0]["backend"] == "module://matplotlib_inline.backend_inline"
    assert warm[0]["dpi"] != 33
    # Each forked kernel draws its own random numbers, as separate cold kernels do.
    assert warm[0]["random"] != warm[1]["random"]


def test_a_forked_kernels_peak_memory_is_counted_in_its_worker(tmp_path, folders):
    kernel, _ = folders
    _, worker = probe(tmp_path, "warm", kernel, megabytes=400)
    assert worker["children_peak_mb"] >= 400


def test_a_kernel_a_fork_would_change_starts_cold(tmp_path, folders):
    kernel, _ = folders
    # The worker's environment changed after its forker imported everything: the second kernel
    # starts cold and sees the variable.
    seen, worker = probe(tmp_path, "warm", kernel, kernels=2, PROBE_SET_AFTER_FIRST="changed")
    assert seen[0]["parent"] != worker["worker"] and seen[0]["probe_var"] is None
    assert seen[1]["parent"] == worker["worker"] and seen[1]["probe_var"] == "changed"
    # matplotlib reads ./matplotlibrc at import: a kernel folder with one starts cold and uses it.
    (kernel / "matplotlibrc").write_text("figure.dpi: 41\n")
    seen, worker = probe(tmp_path, "warm", kernel)
    assert seen[0]["parent"] == worker["worker"] and seen[0]["dpi"] == 41


def test_a_missing_kernel_folder_fails_as_it_does_cold(tmp_path):
    for mode in ("warm", "cold"):
        done = subprocess.run([sys.executable, str(PROBE), str(tmp_path / "missing")], cwd=tmp_path,
                              env={**os.environ, ENV_SWITCH: mode, "PROBE_MARKS": str(tmp_path)},
                              capture_output=True, text=True, timeout=300)
        assert done.returncode != 0
        assert "FileNotFoundError" in done.stderr, done.stderr[-2000:]


def test_what_a_forker_prints_at_start_is_not_taken_for_an_answer(tmp_path, folders):
    kernel, _ = folders
    noisy = tmp_path / "site"
    noisy.mkdir()
    (noisy / "sitecustomize.py").write_text("print('hello from sitecustomize', flush=True)\n")
    seen, worker = probe(tmp_path, "warm", kernel, PYTHONPATH=str(noisy))
    assert seen[0]["parent"] != worker["worker"], "the kernel was not forked"
