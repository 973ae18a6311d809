"""Delivery at the sample's size: printing every report to PDF, and composing and sending every
e-mail and the chat message, against rendering the same reports.

Writes the sample (or reuses ``--workspace``), renders every team x area once with
``playbook run --force`` (the baseline: its wall time and peak memory), then, ``--repeat`` times:

- ``pdf``: every report printed again (``playbook run --pdf`` after the PDFs were removed, so all
  reports are reused and only the printing runs); the wall time of the printing is the run's
  minus that of the same reused run without ``--pdf``, measured in the same repeat;
- ``deliver``: ``playbook deliver`` with every team's summary, every audience's digest, the ops
  lead, and the chat webhook configured, sent to a real SMTP server (aiosmtpd) and an HTTP server
  on 127.0.0.1; the messages' count and total size are printed.

Peak memory is the largest resident size of any process in the command (the runner, a kernel,
Chromium's), read from ``getrusage(RUSAGE_CHILDREN)`` in a wrapper process per command.

    .venv/bin/python benchmarks/deliver.py [--repeat 3] [--jobs 2] [--workspace DIR]

Run by hand, never from the test suite.
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
AS_OF = date(2026, 11, 27)
MEASURE = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
    "sys.stderr.write(r.stderr.decode()); r.check_returncode(); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def measured(*command: str, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak MB of any process of ``command``."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - started, int(done.stdout.strip().splitlines()[-1]) / 1024


def write_params(folder: Path, workspace: Path, smtp_port: int) -> Path:
    params = folder / "params"
    shutil.copytree(ROOT / "params", params)
    defaults = yaml.safe_load((params / "defaults.yaml").read_text())
    defaults["workspace"] = str(workspace)
    defaults["delivery"].update({
        "email": {**defaults["delivery"]["email"], "host": "127.0.0.1", "port": smtp_port, "security": "none"},
        "chat": {"webhook_env": "BENCH_WEBHOOK"}, "reports_url": "https://ops.example.com/reports/",
        "ops_lead": ["lead@example.com"], "failures": ["oncall@example.com"],
    })
    (params / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    for team_file in (params / "teams").glob("*.yaml"):
        team = yaml.safe_load(team_file.read_text()) or {}
        team["delivery"] = {"team": [f"{team_file.stem}@example.com"],
                            "digests": {a: [f"{a}-{team_file.stem}@example.com"] for a in ("revenue", "support", "success")}}
        team_file.write_text(yaml.safe_dump(team, sort_keys=False))
    return params


def main() -> None:
    from aiosmtpd.controller import Controller

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repeats; medians are reported (default 3)")
    parser.add_argument("--jobs", type=int, default=2, help="reports rendered at once (default 2)")
    parser.add_argument("--workspace", type=Path, help="an existing sample folder (default: write one)")
    args = parser.parse_args()

    received: list[int] = []

    class Sink:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            received.append(len(envelope.content))
            return "250 OK"

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
            received.append(len(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with tempfile.TemporaryDirectory(prefix="pb-bench-deliver-") as tmp:
        tmp_path = Path(tmp)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            smtp_port = probe.getsockname()[1]
        smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        hook = http.server.HTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=hook.serve_forever, daemon=True).start()
        try:
            workspace = args.workspace
            if workspace is None:
                workspace = tmp_path / "ws"
                subprocess.run([str(BIN / "playbook"), "sample", "--out", str(workspace), "--seed", "7", "--as-of", AS_OF.isoformat()],
                               check=True, capture_output=True)
            params = write_params(tmp_path, workspace, smtp_port)
            out = tmp_path / "reports"
            run = [str(BIN / "playbook"), "run", "--params", str(params), "--out", str(out), "--as-of", AS_OF.isoformat(), "--jobs", str(args.jobs)]
            render_s, render_mb = measured(*run, "--force")
            reports = len(list(out.glob("*/*.html")))
            print(f"baseline: playbook run --force, {reports} reports: {render_s:.1f} s, peak {render_mb:.0f} MB", flush=True)
            env = {**os.environ, "BENCH_WEBHOOK": f"http://127.0.0.1:{hook.server_port}/services/T000/B000/bench"}
            pdf_s, pdf_mb, deliver_s, deliver_mb, sizes = [], [], [], [], []
            for i in range(args.repeat):
                for pdf in out.glob("*/*.pdf"):
                    pdf.unlink()
                plain_s, _ = measured(*run)
                with_s, with_mb = measured(*run, "--pdf")
                printed = len(list(out.glob("*/*.pdf")))
                assert printed == reports, f"{printed} PDFs for {reports} reports"
                pdf_s.append(with_s - plain_s)
                pdf_mb.append(with_mb)
                received.clear()
                seconds, mb = measured(str(BIN / "playbook"), "deliver", "--params", str(params), "--out", str(out), env=env)
                deliver_s.append(seconds)
                deliver_mb.append(mb)
                sizes.append((len(received), sum(received)))
                print(f"repeat {i + 1}: {printed} PDFs printed in {pdf_s[-1]:.1f} s (run --pdf {with_s:.1f} s - reused run {plain_s:.1f} s), "
                      f"peak {with_mb:.0f} MB; deliver {seconds:.1f} s, {len(received)} messages, {sum(received) / 1e6:.1f} MB, peak {mb:.0f} MB",
                      flush=True)
        finally:
            smtp.stop()
            hook.shutdown()
    pdf_median, deliver_median = statistics.median(pdf_s), statistics.median(deliver_s)
    print(f"\nmedian printing: {pdf_median:.1f} s for {reports} PDFs ({pdf_median / reports:.2f} s each), peak {statistics.median(pdf_mb):.0f} MB; "
          f"{pdf_median / render_s:.2f} x the render")
    print(f"median delivery: {deliver_median:.1f} s for {sizes[-1][0]} messages ({sizes[-1][1] / 1e6:.1f} MB), peak "
          f"{statistics.median(deliver_mb):.0f} MB; {deliver_median / render_s:.3f} x the render")


if __name__ == "__main__":
    main()
