"""``slipway.toml``: what a repository tells Slipway about building and running itself.

Read with ``tomllib`` from the repository's root (never past a symbolic link out of the
checkout), checked key by key: every problem names its key, and the build fails with all of
them at once (``build:user:slipway-toml``). Every key is optional:

    root = "apps/web"             # the app's directory, for monorepos
    install = "npm ci"            # commands that replace the detected ones
    build = "npm run build"
    start = "node server.js"
    port = 3000                   # the app listens here instead of $PORT
    health_check = "/healthz"     # answers before the version goes live
    watch = ["apps/web", "packages/ui"]   # a push that changes nothing under these is skipped

    [env]                         # non-secret runtime environment (secrets: `slipway env set`)
    NODE_ENV = "production"

    [resources]                   # what the app asks of its target
    cpu = "1"                     # and memory = "1Gi", storage = "2Gi", gpu = 1

    [akash]                       # Akash placement and price (slipway.akash_settings)
    max_price_uact = 200          # and providers, auditors, attributes, gpu_model
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from slipway.akash_settings import parse_akash_settings
from slipway.errors import UserError
from slipway.validation import ENV_NAME_RE, shown

FILE_NAME = "slipway.toml"
MAX_BYTES = 64 * 1024
COMMAND_MAX = 2000
MAX_WATCH = 100
MAX_ENV = 200
ENV_VALUE_MAX = 4096
HEALTH_PATH_RE = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,199}")

TOP_KEYS = ("root", "install", "build", "start", "port", "health_check", "watch", "env", "resources", "akash")
RESOURCE_KEYS = ("cpu", "memory", "storage", "gpu")
AKASH_KEYS = ("max_price_uact", "providers", "auditors", "attributes", "gpu_model")


@dataclass(frozen=True)
class ProjectConfig:
    """A repository's ``slipway.toml``, checked; the defaults are what a repository without one gets."""

    root: str = "."
    install: str = ""
    build: str = ""
    start: str = ""
    port: int | None = None
    health_check: str = ""
    watch: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    # Both as slipway.akash_settings values (cpu, memory, storage, gpu; max_price_uact, providers, ...),
    # handed to the release with the project's own settings under them.
    resources: dict = field(default_factory=dict)
    akash: dict = field(default_factory=dict)
    found: bool = False

    def target_settings(self) -> dict:
        """Resources and Akash placement and price, as the release's ``akash`` values."""
        return {**self.resources, **self.akash}


def load_config(checkout: Path, sha: str = "") -> ProjectConfig:
    """The checkout's ``slipway.toml``, or the defaults when it has none."""
    from builder.images import inside_checkout

    if not (checkout / FILE_NAME).is_file():
        return ProjectConfig()
    raw = inside_checkout(checkout, FILE_NAME, sha).read_bytes()[:MAX_BYTES + 1]
    if len(raw) > MAX_BYTES:
        raise _invalid(sha, [f"larger than {MAX_BYTES // 1024} KiB"])
    try:
        data = tomllib.loads(raw.decode())
    except UnicodeDecodeError:
        raise _invalid(sha, ["not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise _invalid(sha, [f"not valid TOML ({exc})"]) from None
    return parse_config(data, sha)


def parse_config(data: dict, sha: str = "") -> ProjectConfig:
    problems: list[str] = []
    values: dict = {"found": True}
    for key in data:
        if key not in TOP_KEYS:
            problems.append(f"{shown(key)} is not a key Slipway knows (it knows {', '.join(TOP_KEYS)})")
    if "root" in data:
        values["root"] = _relative_dir("root", data["root"], problems)
    for key in ("install", "build", "start"):
        if key in data:
            value = data[key]
            if not isinstance(value, str) or not value.strip() or len(value) > COMMAND_MAX or "\x00" in value:
                problems.append(f"{key} must be a command line (text, at most {COMMAND_MAX} characters)")
            else:
                values[key] = value.strip()
    if "port" in data:
        port = data["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(f"port must be a whole number from 1 to 65535, not {shown(str(port))}")
        else:
            values["port"] = port
    if "health_check" in data:
        path = data["health_check"]
        if not isinstance(path, str) or not HEALTH_PATH_RE.fullmatch(path):
            problems.append("health_check must be a URL path starting with /, like /healthz")
        else:
            values["health_check"] = path
    if "watch" in data:
        watch = data["watch"]
        if not isinstance(watch, list) or not watch or len(watch) > MAX_WATCH:
            problems.append(f"watch must be a list of 1 to {MAX_WATCH} paths, like [\"apps/web\", \"packages\"]")
        else:
            values["watch"] = tuple(p for i, item in enumerate(watch)
                                    if (p := _relative_dir(f"watch[{i}]", item, problems)) is not None)
    if "env" in data:
        values["env"] = _env(data["env"], problems)
    if "resources" in data:
        values["resources"] = _akash_table("resources", data["resources"], RESOURCE_KEYS, problems)
    if "akash" in data:
        values["akash"] = _akash_table("akash", data["akash"], AKASH_KEYS, problems)
    if values.get("akash", {}).get("gpu_model") and not values.get("resources", {}).get("gpu"):
        problems.append("akash.gpu_model needs a GPU: set resources.gpu = 1 or more")
    if problems:
        raise _invalid(sha, problems)
    return ProjectConfig(**values)


def watched(watch: Sequence[str] | None, changed: Iterable[str]) -> bool:
    """Whether a push that changed ``changed`` (paths from the repository's root) builds.

    Every push builds without watch paths; with them, a push builds when a changed path is one of
    them, lies under one, or matches one as a glob (``apps/*/src``), or when it
    changes slipway.toml itself (which may change the watch paths).
    """
    if not watch:
        return True
    for path in changed:
        if path == FILE_NAME:
            return True
        for pattern in watch:
            if pattern == "." or path == pattern or path.startswith(pattern.rstrip("/") + "/"):
                return True
            if any(c in pattern for c in "*?[") and (fnmatch.fnmatchcase(path, pattern)
                                                      or fnmatch.fnmatchcase(path, pattern.rstrip("/") + "/*")):
                return True
    return False


def commit_name(sha: str) -> str:
    """How errors name what was planned: a commit, or (``slipway plan``) a directory."""
    return f"commit {sha[:7]}" if sha else "this directory"


def _invalid(sha: str, problems: list[str]) -> UserError:
    return UserError(UserError.BUILD_SLIPWAY_TOML, commit=commit_name(sha), detail="; ".join(problems)[:1500])


def _relative_dir(key: str, value: object, problems: list[str]) -> str | None:
    """A path inside the repository, as a plain relative POSIX path ("." for the root)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 500 or "\x00" in value or "\\" in value:
        problems.append(f"{key} must be a path inside the repository, like \"apps/web\"")
        return None
    path = PurePosixPath(value.strip())
    if path.is_absolute() or ".." in path.parts:
        problems.append(f"{key} {shown(value)} must be a path inside the repository (relative, without ..)")
        return None
    return str(path)


def _env(table: object, problems: list[str]) -> dict[str, str]:
    if not isinstance(table, dict) or len(table) > MAX_ENV:
        problems.append(f"env must be a table of at most {MAX_ENV} NAME = \"value\" lines")
        return {}
    out = {}
    for name, value in table.items():
        if not ENV_NAME_RE.fullmatch(name):
            problems.append(f"env.{name} is not a variable name (letters, digits and _, not starting with a digit)")
        elif name == "PORT":
            problems.append("env.PORT is set by Slipway; use port = N to choose the app's port")
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)) or len(str(value)) > ENV_VALUE_MAX:
            problems.append(f"env.{name} must be text or a number (at most {ENV_VALUE_MAX} characters)")
        else:
            out[name] = str(value)
    return out


def _akash_table(table_name: str, table: object, keys: tuple[str, ...], problems: list[str]) -> dict:
    """A table of slipway.akash_settings keys, each checked by its validation alone (so the error names it)."""
    if not isinstance(table, dict):
        problems.append(f"{table_name} must be a table ([{table_name}])")
        return {}
    out: dict = {}
    for key, value in table.items():
        if key not in keys:
            problems.append(f"{table_name}.{key} is not a key Slipway knows (it knows {', '.join(keys)})")
            continue
        try:
            if key == "gpu_model":  # checked here alone; whether resources.gpu asks for one, below
                out[key] = parse_akash_settings({key: _as_text(value), "gpu": "1"})[key]
                continue
            out.update(parse_akash_settings({key: _as_text(value)}))
        except UserError as exc:
            problems.append(f"{table_name}.{key}: {exc.params.get('detail', exc)}")
    return out


def _as_text(value: object) -> str:
    """A TOML value as the text slipway.akash_settings reads (lists comma-separated, tables as k=v)."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
