"""Deploy hooks: a secret URL per project that deploys its branch head."""

from flask import Blueprint

bp = Blueprint("hooks", __name__)
