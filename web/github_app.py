"""GitHub App: create it from a manifest, see installations, connect repositories."""

from flask import Blueprint

bp = Blueprint("github", __name__)
