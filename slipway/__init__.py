"""Slipway's shared core: settings, the data model, errors and the command line."""
