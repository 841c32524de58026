"""Static files: an ``index.html`` at the app's root, served as it is by a small static server.

The server is Caddy (the ``SLIPWAY_PLAN_STATIC_IMAGE``), configured by a Caddyfile written into
the image, so it needs no network: it listens on $PORT, answers a path with its file, the same name
with ``.html`` (``/docs/intro`` is ``docs/intro.html``, as a Next.js export writes it), the directory's
index.html, or else the site's own /index.html (single-page apps route in the browser).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from builder.plan.base import Dockerfile, Plan, quoted

if TYPE_CHECKING:
    from builder.plan.base import Context

CADDYFILE = (
    "{",
    "  admin off",
    "  auto_https off",
    "}",
    ":{$PORT:8080} {",
    "  root * /srv",
    "  encode gzip",
    "  try_files {path} {path}.html {path}/ /index.html",
    "  file_server",
    "}",
)


def serve_static(df: Dockerfile, image: str, copy_line: str) -> Dockerfile:
    """The final stage of every static site: the server, its configuration and command, then the files
    (last: a change of the site rebuilds that one step)."""
    return (df.stage(image)
            .run(f"mkdir -p /etc/caddy && printf '%s\\n' {quoted(CADDYFILE)} > /etc/caddy/Caddyfile")
            ('CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]',
             copy_line))


def detect(ctx: "Context") -> Plan | None:
    if not ctx.tree.is_file("index.html"):
        return None
    df = serve_static(Dockerfile(), ctx.images.image("static"), "COPY . /srv")
    return Plan("static", "static files (index.html), served by Caddy", df.text(), context=ctx.app_dir,
                config=ctx.config)
