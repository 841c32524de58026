"""Sending one notification: an HTTP POST to a webhook, or a mail through the SMTP server.

Failures raise ``NotificationFailed`` with a message fit to store and log: the kind and an HTTP status
or an exception's class, never the exception's text (requests puts the URL, and so its token, in it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl

from urllib.parse import urlsplit

import certifi
import urllib3

from slipway.notifications.egress import TargetRefused, checked_addresses
from slipway.notifications.messages import Notice, discord_payload, email_message, slack_payload, webhook_body
from slipway.settings import Settings

# urllib3 logs every request's path at DEBUG, and a Slack or Discord webhook's path is its token:
# those lines are never made, whatever level the root logger is at.
logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

SIGNATURE_HEADER = "X-Slipway-Signature-256"
USER_AGENT = "Slipway-Notifications"


class NotificationFailed(Exception):
    """A notification was not delivered; ``str()`` holds no target and no secret."""


class NotificationRefused(NotificationFailed):
    """The target is one Slipway does not send to (a private address): trying again would not help."""


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body under the channel's secret, as GitHub's X-Hub-Signature-256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(settings: Settings, kind: str, target: str, secret: str | None, notice: Notice, delivery_id: int) -> None:
    if kind == "email":
        _send_mail(settings, target, notice)
        return
    if kind == "slack":
        body, headers = _json(slack_payload(notice)), {}
    elif kind == "discord":
        body, headers = _json(discord_payload(notice)), {}
    elif kind == "webhook":
        body = _json(webhook_body(notice))
        headers = {SIGNATURE_HEADER: signature(secret or "", body), "X-Slipway-Event": f"deployment.{notice.event}",
                   "X-Slipway-Delivery": str(delivery_id)}
    else:
        raise NotificationFailed(f"unknown channel kind {kind!r}")
    _post(settings, kind, target, body, headers)


def _json(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _post(settings: Settings, kind: str, url: str, body: bytes, headers: dict[str, str]) -> None:
    """POST to an address just checked by ``egress``, never to a second lookup of the host.

    The connection goes to the checked IP address, with the URL's host in the Host header and, for
    https, in SNI and the certificate check. Redirects are not followed: a POST turned into a GET
    elsewhere is not a delivery, and the place it leads to was never checked.
    """
    try:
        addresses = checked_addresses(settings, kind, url)
    except TargetRefused as refused:
        raise NotificationRefused(str(refused)) from None
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers,
               "Host": parts.netloc.rpartition("@")[2]}
    timeout = urllib3.Timeout(total=float(settings.notify_timeout))
    error: Exception | None = None
    for address in addresses:  # the next checked address if one cannot be reached, as a resolver's client would
        if https:
            pool = urllib3.HTTPSConnectionPool(str(address), port, timeout=timeout, retries=False, maxsize=1,
                                               cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
                                               server_hostname=parts.hostname, assert_hostname=parts.hostname)
        else:
            pool = urllib3.HTTPConnectionPool(str(address), port, timeout=timeout, retries=False, maxsize=1)
        try:
            with pool:
                resp = pool.urlopen("POST", path, body=body, headers=headers, redirect=False, retries=False,
                                    assert_same_host=False)
        except urllib3.exceptions.NewConnectionError as exc:
            error = exc
            continue
        except urllib3.exceptions.HTTPError as exc:
            error = exc
            break
        if not 200 <= resp.status < 300:
            raise NotificationFailed(f"the {kind} webhook answered HTTP {resp.status}")
        return
    raise NotificationFailed(f"the {kind} webhook could not be reached ({type(error).__name__})")


def _send_mail(settings: Settings, recipient: str, notice: Notice) -> None:
    msg = email_message(notice, settings.smtp_from, recipient)
    timeout = float(settings.notify_timeout)
    port = int(settings.smtp_port)
    try:
        if settings.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(settings.smtp_host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(settings.smtp_host, port, timeout=timeout)
        with smtp:
            if settings.smtp_security == "starttls":  # Settings refuses any other value
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        raise NotificationFailed(f"the SMTP server refused the mail ({type(exc).__name__} {exc.smtp_code})") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise NotificationFailed(f"the SMTP server could not be used ({type(exc).__name__})") from None
