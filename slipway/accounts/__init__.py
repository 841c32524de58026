"""Accounts: who uses Slipway and what they may do.

People sign in with GitHub (through the GitHub App's OAuth client) or as the local admin
(SLIPWAY_ADMIN_PASSWORD, for a single machine). Teams own git-push projects; a GitHub project is
seen by whoever can reach its repository on GitHub. ``access.require(actor, project, action)`` is
the one check every page, stream, API route and action goes through; ``audit.record`` keeps who
did what; ``tokens`` are the per-user API tokens.
"""
