"""The OEM monthly report for 100k jobs, against a bare openpyxl write-only workbook of the same rows.

Builds one OEM month of N jobs in memory (every column of the report's Jobs sheet, dates as dates),
then times in the same run, alternating, each `--repeat` times:
  baseline  openpyxl Workbook(write_only=True), one sheet, ws.append(row) for every row, save to bytes
  report    reporting.installations.oem_workbook: title, highlights, stuck jobs, stages with the funnel
            chart, and the Jobs sheet through reporting/excel.py (typed, formatted cells, frozen header)
Goal: report / baseline (median) at most 1.5.

    /work/main/.venv/bin/python bench/reports.py [--jobs 100000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def synthetic_period(oem, jobs: int):
    from app.services.installations import ACTIVE_STAGES, PAID, STAGES
    from reporting.installations import OemPeriod

    rng = random.Random(17)
    start = date(2026, 11, 1)
    data = OemPeriod(oem=oem, period="monthly", start=start, end=date(2026, 11, 30))
    stages = ACTIVE_STAGES + [PAID]
    for i in range(jobs):
        logged = start - timedelta(days=rng.randint(0, 120))
        stage = rng.choice(stages)
        survey = logged + timedelta(days=rng.randint(2, 10))
        installed = survey + timedelta(days=rng.randint(3, 20)) if STAGES.index(stage) >= STAGES.index("Installed") else None
        data.jobs.append((
            f"INS-{i + 1:05d}", f"TM-{i + 1}", f"Customer {i}", rng.choice(("Colombo", "Gampaha", "Kandy", "Galle")),
            rng.choice(("api", "portal")), logged, stage, logged + timedelta(days=rng.randint(0, 30)), survey, installed,
            f"SN-{i}" if installed else None, f"CP-{i}" if installed else None, rng.choice(("Yes", "No", "")), "",
            installed, installed if stage == PAID else None,
        ))
    data.jobs.sort(key=lambda r: (STAGES.index(r[6]), r[5]))
    counts: dict = {}
    for row in data.jobs:
        counts[row[6]] = counts.get(row[6], 0) + 1
    data.stages = [(s, counts.get(s, 0)) for s in stages]
    data.new_leads, data.surveys_done, data.installations_done = jobs // 4, jobs // 5, jobs // 6
    data.lead_to_install_days = [rng.randint(5, 40) for _ in range(jobs // 6)]
    data.stuck = [(r[0], r[1], r[2], r[6], 30, "Waiting for: Survey scheduled") for r in data.jobs[:5]]
    return data


def bare(rows) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Jobs")
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from app import create_app
    from app.models.installations import Oem
    from reporting.installations import oem_workbook

    scratch = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{scratch / 'bench.db'}", "VAR_DIR": scratch,
                      "UPLOAD_DIR": scratch / "uploads"})
    with app.app_context():
        data = synthetic_period(Oem(name="Tata Motors", code="TATA"), args.jobs)
        timings = {"baseline": [], "report": []}
        sizes = {}
        for _ in range(args.repeat):
            for name, fn in (("baseline", lambda: bare(data.jobs)), ("report", lambda: oem_workbook(data))):
                began = time.perf_counter()
                sizes[name] = len(fn())
                timings[name].append(time.perf_counter() - began)
    base, report = statistics.median(timings["baseline"]), statistics.median(timings["report"])
    print(f"OEM monthly report, {args.jobs} jobs, {args.repeat} runs each (median)")
    print(f"  baseline  bare openpyxl write-only   {base:7.2f} s   {sizes['baseline'] / 1e6:6.1f} MB")
    print(f"  report    oem_workbook (formatted)   {report:7.2f} s   {sizes['report'] / 1e6:6.1f} MB")
    print(f"  ratio {report / base:.2f}   goal: at most 1.5", flush=True)


if __name__ == "__main__":
    main()
