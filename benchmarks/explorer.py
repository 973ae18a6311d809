"""How long an ops lead waits for an explorer: the first view, and a redraw after a change.

For each area, on a sample workspace (``--workspace``, else a fresh one at the default size), as
an ops lead's notebook does it: build the notebook's report, make the explorer (its first view
is drawn from that report), then change the period and wait until the new view is shown; then
make two quick changes (the view, then the period) and wait until the last choice is shown.
The baseline, measured in the same run, is the computation alone that a redraw needs (open the
report, build it, draw the view) called directly: the explorer's overhead is the difference.

    .venv/bin/python benchmarks/explorer.py [--workspace DIR] [--team all] [--repeat 5]

Run by hand, never from the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

AS_OF = date(2026, 11, 27)


def _wait(explorer, limit: float = 300.0) -> None:
    stop = time.monotonic() + limit
    while explorer.status.value or explorer.shown != explorer.choice():
        if time.monotonic() > stop:
            raise SystemExit(f"the explorer did not draw {explorer.choice()} in {limit:.0f} s")
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", help="a sample workspace to reuse (default: generate one)")
    parser.add_argument("--team", default="all")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    from conftest import make_params
    from playbook.areas import AREAS
    from playbook.context import build, open_report
    from playbook.sample import generate
    from playbook.widgets import SCHEDULED, Explorer

    import os

    os.environ.pop(SCHEDULED, None)
    tmp = Path(tempfile.mkdtemp(prefix="pb-explorer-bench-"))
    workspace = Path(args.workspace) if args.workspace else tmp / "workspace"
    if not args.workspace:
        generate(workspace, seed=3, as_of=AS_OF)
    params = make_params(tmp, workspace)
    print(f"{'area':14} {'first view':>11} {'redraw':>8} {'baseline':>9} {'overhead':>9} {'two quick':>10}  (medians, s)")
    for area in AREAS:
        first, redraw, base, quick = [], [], [], []
        for _ in range(args.repeat):
            ctx = open_report(area, args.team, params, as_of=AS_OF, history="-")
            report = build(ctx)
            started = time.perf_counter()
            explorer = Explorer(ctx, str(params), report)
            _wait(explorer)
            first.append(time.perf_counter() - started)
            started = time.perf_counter()
            explorer.period.value = "last_90_days"
            _wait(explorer)
            redraw.append(time.perf_counter() - started)
            # The same redraw's computation alone, as the explorer's render calls it.
            started = time.perf_counter()
            shown, _ = explorer.render(explorer.choice())
            base.append(time.perf_counter() - started)
            views = list(explorer.views)
            started = time.perf_counter()
            explorer.view.value = views[-1]
            explorer.period.value = "previous_month"
            _wait(explorer)
            quick.append(time.perf_counter() - started)
            import matplotlib.pyplot as plt

            plt.close("all")
        m = {k: statistics.median(v) for k, v in (("first", first), ("redraw", redraw), ("base", base), ("quick", quick))}
        print(f"{area:14} {m['first']:11.2f} {m['redraw']:8.2f} {m['base']:9.2f} {m['redraw'] / m['base']:8.2f}x {m['quick']:10.2f}")


if __name__ == "__main__":
    main()
