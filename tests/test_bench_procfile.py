"""The benchmarks (bench/ingest.py, queue_latency.py, push_to_live.py) run gunicorn with the Procfile's
flags and app, read from the Procfile itself."""

import shlex
from pathlib import Path

import pytest

from bench.common import procfile_gunicorn

ROOT = Path(__file__).resolve().parent.parent


def test_the_benches_run_gunicorn_as_the_procfile_does(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text('worker: rq worker\nweb: gunicorn --bind ${SLIPWAY_BIND:-127.0.0.1:8000} --workers 3 '
                        '--threads 5 --timeout 60 "web:create_app()"\n')
    assert procfile_gunicorn(procfile) == (["--workers", "3", "--threads", "5", "--timeout", "60"], "web:create_app()")


def test_the_real_procfiles_flags_and_app_are_what_the_benches_use():
    (web,) = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")]
    flags, app = procfile_gunicorn(ROOT / "Procfile")
    assert flags and " ".join(shlex.quote(f) for f in flags) in web and "--bind" not in flags
    assert shlex.split(web)[-1] == app


@pytest.mark.parametrize("text", ["worker: rq worker\n", "web: python -m http.server\n"])
def test_a_procfile_without_a_gunicorn_web_line_stops_the_bench_saying_so(tmp_path, text):
    procfile = tmp_path / "Procfile"
    procfile.write_text(text)
    with pytest.raises(SystemExit) as stopped:
        procfile_gunicorn(procfile)
    assert "web line" in str(stopped.value)
