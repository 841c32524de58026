"""A project's SDL, for Akash Console or the provider tools: generated from its settings."""

from __future__ import annotations

from deployer.akash.sdl import RegistryCredentials, dump_sdl
from slipway.models import Project
from slipway.settings import Settings


def project_sdl(project: Project, image: str, settings: Settings, *, reveal: bool = False) -> str:
    """The SDL Slipway deploys ``project`` with when it runs ``image``: the installation's resources,
    price ceiling and provider policy, each replaced by the project's own (``slipway project set``),
    pulling the image with the registry's credentials. The app's environment variables are left out
    (an exported file is easily shared), and the password is redacted unless ``reveal``.
    """
    # The factory reads the settings the target is built with; the export asks it the same.
    from deployer.akash.factory import installation_policy, installation_resources
    from deployer.akash.target import policy_for, resources_for, settings_sdl
    from deployer.base import Release

    credentials = RegistryCredentials(
        host=settings.registry, username=settings.registry_username, password=settings.registry_password
    )
    own = dict(project.akash_settings or {})
    release = Release(project.name, 0, image, akash=own)
    data = settings_sdl(release, credentials, resources_for(own, installation_resources(settings)),
                        policy_for(own, installation_policy(settings)))
    return dump_sdl(data, reveal=reveal)
