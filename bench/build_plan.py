"""Build plans, timed: a cold build against a rebuild after a one-line source change, and the
generated Dockerfile against a hand-tuned one, for a Node (Express) and a Python (Flask) app whose
dependencies come from the npm registry and PyPI.   bench/build_plan [--rounds N] [--json FILE]

Targets (issue #11): rebuild <= 0.25x cold; generated cold <= 1.1x hand-tuned cold.

Runs through Slipway's own builder (``builder.images.DockerImageBuilder``, the classic builder
with host networking) on the test instance's Docker Engine, from the base-image stand-ins of
``scripts/plan_images.sh``. "Cold" means no layer of the app is on the Engine (its images are
removed first); the base image is, as on any worker that built before.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import run_main  # noqa: E402
from builder.images import DockerImageBuilder, RegistryAuth, docker_client  # noqa: E402
from builder.plan import BaseImages  # noqa: E402
from slipway.buildlog import SecretMasker  # noqa: E402
from slipway.director import Director  # noqa: E402
from slipway.settings import Settings  # noqa: E402

APPS = ROOT / "bench" / "build_plan_apps"
# The one-line change per app: (file, old, new).
CHANGES = {"node": ("server.js", "hello from express", "hello again from express"),
           "python": ("app.py", "hello from flask", "hello again from flask")}


def say(text: str) -> None:
    print(f"build_plan: {text}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, settings: Settings, images: BaseImages):
        self.settings = settings
        self.images = images
        auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
        self.builder = DockerImageBuilder(settings.build_docker_host, auth)
        self.log: list[str] = []
        self.director = Director(self.builder, self.log.append, SecretMasker(), plan_images=images)

    def forget(self, repository: str) -> None:
        """Remove every image of ``repository`` (and so its untagged layers): the next build is cold."""
        client = docker_client(self.settings.build_docker_host)
        try:
            for image in client.images.list(name=repository):
                for tag in image.tags:
                    client.images.remove(tag, force=True)
        finally:
            client.close()

    def timed(self, build) -> float:
        started = time.monotonic()
        build()
        return time.monotonic() - started

    def generated(self, src: Path, tag: str) -> float:
        plan = self.director.plan(src, "Dockerfile", ".", "")
        return self.timed(lambda: self.director.build(src, plan, tag, ""))

    def hand(self, src: Path, kind: str, tag: str) -> float:
        text = (src / "Dockerfile.hand").read_text().replace("{node}", self.images.image("node")) \
            .replace("{python}", self.images.image("python"))
        return self.timed(lambda: self.builder.build(src, "Dockerfile", ".", tag, self.log.append, 1800,
                                                     dockerfile_text=text))

    def round(self, kind: str, n: int) -> dict:
        repository = f"{self.settings.registry}/bench-plan-{kind}"
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "src"
            shutil.copytree(APPS / kind, src)
            times = {}
            # Alternate which goes first, so neither always meets a warmer registry or disk.
            order = ("generated", "hand") if n % 2 == 0 else ("hand", "generated")
            for which in order:
                self.forget(repository)
                if which == "generated":
                    times["cold"] = self.generated(src, f"{repository}:cold")
                    name, old, new = CHANGES[kind]
                    (src / name).write_text((src / name).read_text().replace(old, new))
                    times["rebuild"] = self.generated(src, f"{repository}:rebuild")
                    (src / name).write_text((src / name).read_text().replace(new, old))
                else:
                    times["hand_cold"] = self.hand(src, kind, f"{repository}:hand")
            self.forget(repository)
        times["rebuild_ratio"] = times["rebuild"] / times["cold"]
        times["generated_vs_hand"] = times["cold"] / times["hand_cold"]
        say(f"{kind} round {n + 1}: cold {times['cold']:.1f} s, rebuild {times['rebuild']:.1f} s "
            f"({times['rebuild_ratio']:.2f}x), hand-tuned cold {times['hand_cold']:.1f} s "
            f"(generated {times['generated_vs_hand']:.2f}x)")
        return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--apps", default="node,python")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = Settings.load()
    kinds = [k for k in args.apps.split(",") if k]
    out = subprocess.run([str(ROOT / "scripts" / "plan_images.sh"), *kinds], capture_output=True, text=True)
    if out.returncode != 0:
        say(out.stderr.strip())
        return 1
    found = dict(line.split("=", 1) for line in out.stdout.split())
    bench = Bench(settings, BaseImages(**found))
    results: dict[str, list[dict]] = {k: [bench.round(k, n) for n in range(args.rounds)] for k in kinds}
    ok = True
    print(f"{'app':8} {'cold s':>8} {'rebuild s':>10} {'rebuild/cold':>13} {'hand cold s':>12} {'generated/hand':>15}")
    for kind, rounds in results.items():
        med = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        print(f"{kind:8} {med['cold']:8.1f} {med['rebuild']:10.1f} {med['rebuild_ratio']:13.2f} "
              f"{med['hand_cold']:12.1f} {med['generated_vs_hand']:15.2f}")
        ok = ok and med["rebuild_ratio"] <= 0.25 and med["generated_vs_hand"] <= 1.1
    print(f"targets (rebuild <= 0.25x cold, generated <= 1.1x hand-tuned): {'met' if ok else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if ok else 2


if __name__ == "__main__":
    run_main(main, say)
