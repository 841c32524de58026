"""Webhooks: GitHub events in."""
