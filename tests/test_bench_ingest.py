"""bench/ingest.py runs both servers with the Procfile's gunicorn flags, read from the Procfile itself."""

import shlex
from pathlib import Path

from bench.ingest import procfile_flags

ROOT = Path(__file__).resolve().parent.parent


def test_the_bench_runs_gunicorn_as_the_procfile_does(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text('worker: rq worker\nweb: gunicorn --bind ${SLIPWAY_BIND:-127.0.0.1:8000} --workers 3 '
                        '--threads 5 --timeout 60 "web:create_app()"\n')
    assert procfile_flags(procfile) == ["--workers", "3", "--threads", "5", "--timeout", "60"]


def test_the_real_procfiles_flags_are_what_the_bench_uses():
    (web,) = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")]
    flags = procfile_flags(ROOT / "Procfile")
    assert flags and " ".join(shlex.quote(f) for f in flags) in web and "--bind" not in flags
