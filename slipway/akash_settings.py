"""A project's own Akash settings: what it asks of a provider, what it pays at most, whom it trusts.

Stored with the project (``Project.akash_settings``, a JSON object of plain values) and handed to
the Akash target in the Release (``Release.akash``); whatever a project leaves out is the
installation's setting (``SLIPWAY_AKASH_CPU`` ... ``SLIPWAY_AKASH_AUDITORS``). The target never
reads the database.

Keys, all optional:
  cpu (str, "0.5" or "500m"), memory and storage (str, "512Mi", "1Gi"), gpu (int, units),
  gpu_model (str, e.g. "rtx4090", nvidia; needs gpu), max_price_uact (int, per block),
  budget_uact (int) with budget_monthly (bool: the budget renews every 30 days; otherwise it is
  the project's total), providers and auditors (lists of akash1... addresses), attributes
  (dict of provider attributes the lease must have).

``parse_akash_settings`` turns what a user typed (CLI options, form fields: strings) into those
values, raising UserError (``project:user:akash-settings``) that lists every problem.
"""

from __future__ import annotations

import re
from typing import Mapping

from slipway.errors import UserError
from slipway.validation import shown

# The fields a user sets as text, in the order forms and the CLI show them.
FIELDS = ("cpu", "memory", "storage", "gpu", "gpu_model", "max_price_uact", "budget_uact", "budget_monthly",
          "providers", "attributes", "auditors")

CPU_RE = re.compile(r"(?:\d{1,3}(?:\.\d{1,3})?|\d{1,6}m)")
SIZE_RE = re.compile(r"\d{1,7}(?:Ki|Mi|Gi|Ti|k|M|G|T)")
ADDRESS_RE = re.compile(r"akash1[02-9ac-hj-np-z]{38}")
GPU_MODEL_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")
ATTRIBUTE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")
MAX_GPU = 16
# The chain's smallest deposit: a budget below it could never start a deployment.
MIN_BUDGET_UACT = 500_000
MAX_UACT = 10**15


def _names(text: str) -> list[str]:
    return list(dict.fromkeys(n.strip() for n in text.replace("\n", ",").split(",") if n.strip()))


def _int(label: str, text: str, low: int, high: int, problems: list[str]) -> int | None:
    if not re.fullmatch(r"\d{1,16}", text) or not low <= int(text) <= high:
        problems.append(f"{label} {shown(text)} must be a whole number from {low} to {high}")
        return None
    return int(text)


def _cpu_ok(text: str) -> bool:
    if not CPU_RE.fullmatch(text):
        return False
    units = int(text[:-1]) / 1000 if text.endswith("m") else float(text)
    return 0.001 <= units <= 256


def parse_akash_settings(raw: Mapping[str, str | None], current: Mapping[str, object] | None = None) -> dict:
    """``current`` changed by ``raw`` (text per field; None leaves a field alone, "" clears it)."""
    out = dict(current or {})
    problems: list[str] = []
    for key in FIELDS:
        text = raw.get(key)
        if text is None:
            continue
        text = str(text).strip()
        if text == "":
            out.pop(key, None)
            continue
        if key == "cpu":
            if _cpu_ok(text):
                out[key] = text
            else:
                problems.append(f"CPU {shown(text)} must be a number of CPUs from 0.001 to 256, like 0.5 or 500m")
        elif key in ("memory", "storage"):
            if SIZE_RE.fullmatch(text) and int(re.match(r"\d+", text).group()) > 0:
                out[key] = text
            else:
                problems.append(f"{key} {shown(text)} must be a size like 512Mi or 1Gi (Ki, Mi, Gi, Ti, k, M, G, T)")
        elif key == "gpu":
            value = _int("GPU count", text, 0, MAX_GPU, problems)
            if value is not None:
                out[key] = value
        elif key == "gpu_model":
            if GPU_MODEL_RE.fullmatch(text.lower()):
                out[key] = text.lower()
            else:
                problems.append(f"GPU model {shown(text)} must be an nvidia model name like rtx4090 or a100")
        elif key == "max_price_uact":
            value = _int("max price (uact per block)", text, 1, 10**9, problems)
            if value is not None:
                out[key] = value
        elif key == "budget_uact":
            value = _int("budget (uact)", text, MIN_BUDGET_UACT, MAX_UACT, problems)
            if value is not None:
                out[key] = value
        elif key == "budget_monthly":
            if text.lower() in ("1", "true", "yes", "on", "month", "monthly"):
                out[key] = True
            elif text.lower() in ("0", "false", "no", "off", "total"):
                out.pop(key, None)
            else:
                problems.append(f"budget period {shown(text)} must be monthly or total")
        elif key in ("providers", "auditors"):
            names = _names(text)
            bad = [n for n in names if not ADDRESS_RE.fullmatch(n)]
            if bad:
                problems.append(f"{key} must be Akash addresses (akash1 and 38 letters or digits), "
                                f"not {', '.join(shown(b) for b in bad[:3])}")
            else:
                out[key] = names
        elif key == "attributes":
            pairs: dict[str, str] = {}
            for item in _names(text):
                name, sep, value = (part.strip() for part in item.partition("="))
                if not sep or not ATTRIBUTE_RE.fullmatch(name) or not ATTRIBUTE_RE.fullmatch(value):
                    problems.append(f"attribute {shown(item)} must be key=value (letters, digits, . _ / -)")
                else:
                    pairs[name] = value
            out[key] = pairs
    if out.get("gpu_model") and not out.get("gpu"):
        problems.append("a GPU model needs a GPU count (gpu 1 or more)")
    if out.get("budget_monthly") and "budget_uact" not in out:
        problems.append("a monthly budget needs a budget in uact")
    if problems:
        raise UserError(UserError.PROJECT_AKASH_SETTINGS, detail="; ".join(problems))
    return out


def as_text(values: Mapping[str, object]) -> dict[str, str]:
    """Stored values as the text a form or the CLI shows (what ``parse_akash_settings`` reads back)."""
    out = {}
    for key in FIELDS:
        value = values.get(key)
        if value is None or value == "" or value is False:
            out[key] = ""
        elif isinstance(value, list):
            out[key] = ", ".join(value)
        elif isinstance(value, dict):
            out[key] = ", ".join(f"{k}={v}" for k, v in value.items())
        elif value is True:
            out[key] = "monthly"
        else:
            out[key] = str(value)
    return out


def with_current_budget(ref: dict, own: Mapping[str, object] | None) -> dict:
    """A live Akash release's stored reference with the project's budget as set now (``own``: its
    Akash settings), not as it was when the release started: the periodic check tops the escrow up,
    and closes it, within the budget of today. No budget of its own: the installation's."""
    out = {k: v for k, v in ref.items() if k != "budget"}
    if own and own.get("budget_uact"):
        out["budget"] = {"budget_uact": int(own["budget_uact"]), "budget_monthly": bool(own.get("budget_monthly"))}
    return out
