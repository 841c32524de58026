"""Built-in git remote: `git push http://HOST/git/PROJECT.git main` deploys."""

from flask import Blueprint

bp = Blueprint("git_remote", __name__)
