"""A project's SDL, for Akash Console or the provider tools: generated from its settings."""

from __future__ import annotations

from deployer.akash.sdl import RegistryCredentials, ServiceSpec, generate_sdl
from slipway.models import Project
from slipway.settings import Settings

# The port the app listens on inside its container on Akash (given to it as PORT).
AKASH_APP_PORT = 8080


def project_sdl(project: Project, image: str, settings: Settings, *, reveal: bool = False) -> str:
    """SDL v2.0 for ``project`` running ``image``, pulling it with the registry's credentials.

    The password is redacted unless ``reveal``: an exported file is easily shared.
    """
    credentials = RegistryCredentials(
        host=settings.registry, username=settings.registry_username, password=settings.registry_password
    )
    spec = ServiceSpec(name=project.name, image=image, port=AKASH_APP_PORT, env={"PORT": str(AKASH_APP_PORT)},
                       credentials=credentials)
    return generate_sdl(spec, reveal=reveal)
