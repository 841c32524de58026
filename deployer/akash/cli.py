"""`slipway sdl ...`: SDL tools for operators and users."""

import click


@click.group()
def sdl() -> None:
    """Check SDL files and print their manifests."""
