"""The two error families and the one catalogue of what users are told.

``UserError``: the repository or the settings are at fault; the message says what to fix.
``AppError``: Slipway or its infrastructure is at fault; the user gets a generic
message with the id, and the details go to the operator's log only.
Each error carries a stable id; its text lives in MESSAGES below.
"""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    # the user's
    "build:user:no-dockerfile": "No Dockerfile at '{path}' in commit {sha}. Add one, or set the project's Dockerfile path.",
    "build:user:outside-checkout": "'{path}' in commit {sha} is a symbolic link that leads outside the repository. Slipway reads only files inside the checkout: commit the file itself instead of a link.",
    "build:user:bad-context": "The build context '{path}' is not a directory in commit {sha}. Fix the project's build context.",
    "build:user:build-failed": "The Docker build failed: {detail}. The build log shows the step that broke.",
    "build:user:time-out": "The build took longer than {seconds} seconds and was stopped. Make it faster or raise SLIPWAY_BUILD_TIMEOUT.",
    "build:user:commit-not-found": "Commit {sha} is not in {repo}. Was it force-pushed away?",
    "build:user:clone-failed": "Could not fetch {repo}: {detail}",
    "build:user:bad-ref": "Refused to fetch {value} from {repo}: the {what} must be {expected}.",
    "build:user:github-access": "Slipway's GitHub App cannot read {repo} ({detail}). Is the App still installed with access to this repository?",
    "deploy:user:unhealthy": "The new version did not answer HTTP on port {port} within {seconds} seconds, so the previous version keeps serving. Does the app listen on $PORT?",
    "deploy:user:image-gone": "The image {image} is no longer in the registry, so this version cannot be redeployed. Deploy its commit again to rebuild it.",
    "deploy:user:bad-commit": "{value} is neither a commit sha (7 to 40 hex digits, or 64) nor a branch or tag name: {reason}.",
    "deploy:user:no-such-ref": "The repository has no branch or tag {value}. Give a commit sha (7 to 40 hex digits) or a branch or tag name.",
    "deploy:user:exited": "The new version exited with status {status} right after it started, so the previous version keeps serving. The log shows its last lines.",
    # ours
    "build:app:registry": "Slipway could not push the image to its registry ({detail}). This is not a problem in your code; the operator has been told.",
    "build:app:docker": "Slipway's Docker Engine failed ({detail}). This is not a problem in your code; the operator has been told.",
    "deploy:app:target": "Slipway could not start the deployment on its target ({detail}).",
    "app:github": "Slipway could not reach GitHub ({detail}).",
    "akash:app:not-configured": "The Akash target is not configured: {detail}.",
    "akash:app:tx-refused": "The Akash network refused a transaction (code {code}: {log}).",
    "akash:user:sdl": "The SDL is not valid: {detail}",
    "akash:user:no-bids": "No Akash provider took the deployment ({detail}), so it was closed and its deposit returned. Ask for less CPU, memory or storage, raise the max price, or relax the provider requirements (trusted providers, attributes, auditors): in the project's Akash settings, or the installation's SLIPWAY_AKASH_MAX_PRICE, SLIPWAY_AKASH_PROVIDERS, SLIPWAY_AKASH_ATTRIBUTES, SLIPWAY_AKASH_AUDITORS.",
    "akash:user:never-available": "The app did not become available on provider {provider} within {seconds} seconds, so the deployment was closed and the previous version keeps serving. Does the app listen on $PORT? The log shows the last step reached.",
    "akash:user:budget-spent": "The project's Akash budget is spent: {detail}. {what} A higher budget (the project's Akash settings, or SLIPWAY_AKASH_BUDGET) takes effect with the next grant period.",
    "akash:user:loopback-registry": "The image is in the registry at {registry}, which only this machine can reach, so no provider on the {network} Akash network could pull it. Publish the registry over TLS at a public address and set SLIPWAY_REGISTRY to it (README: \"Deploying to a real Akash network\").",
    "akash:app:step": "Deploying on Akash failed while {step}: {detail}. Any deployment created on the way is closed, so no deposit stays locked.",
    "akash:app:manifest-refused": "Provider {provider} refused the deployment's manifest ({detail}), so the deployment was closed.",
    "app:unexpected": "Slipway hit an unexpected error (reference {ref}). This is not a problem in your code; the operator has been told.",
    "app:worker-lost": "The worker running this deployment stopped before it finished. Push again or redeploy.",
    "app:cancelled": "Cancelled.",
    "app:superseded": "Superseded by deployment {id} ({sha}), requested after this one for the same slot.",
    "app:cancelled-by-user": "Cancelled by a user.",
    "app:pr-closed": "Removed because pull request #{number} was closed.",
    # requesting a deployment (slipway.deployments.request_deployment)
    "deploy:user:no-project": "no project named {name}; see `slipway project list`",
    "deploy:user:disconnected": "{name} is disconnected from its GitHub repository: {reason}",
    "deploy:user:no-branch": "the repository {repo} has no branch {branch!r}",
    "deploy:user:empty-repository": "the repository {repo} has no commits yet: push to {branch} first, then deploy again",
    "deploy:user:unreadable-branch": "could not read branch {branch!r} of {repo}: {reason}",
    "deploy:user:unreadable-ref": "could not read {value} from {repo}: {reason}",
    "deploy:user:no-deployment": "no deployment {id}",
    "deploy:user:no-image": "deployment {id} has no image to redeploy (it ended {state} before its image was pushed)",
    "deploy:user:already-ended": "deployment {id} has already ended ({state}); there is nothing to cancel",
    "deploy:user:bad-pushed-commit": "{value} is not a full commit id (40 or 64 lowercase hex digits), which a push always names",
    "deploy:user:bad-branch": "{value} is not a branch name git accepts: {reason}",
    "deploy:user:bad-slot": "{value} is not a pull request number (a positive integer below 2^31)",
    "deploy:app:no-github-app": "{name} is connected through a GitHub App, but no App is configured to read its repository",
    "deploy:app:not-recorded": "no deployment could be recorded ({kind}); is the database reachable?",
    "deploy:app:not-queued": "deployment {id} could not be queued (is Redis running?) and is marked failed",
    # signing in
    "auth:user:too-many-sign-ins": "Too many failed sign-ins from your address. Try again in {seconds} seconds.",
    "settings:user:rate-limit": "SLIPWAY_LOGIN_RATE_LIMIT is {value!r}, which is not a rate limit. Give one like '10 per minute'.",
    "settings:user:targets": "SLIPWAY_TARGETS is {value!r}: {problem}. Give a comma-separated list of targets from: {known}.",
    "settings:user:default-target": "SLIPWAY_DEFAULT_TARGET is {value!r}, which SLIPWAY_TARGETS does not offer (it offers {targets}). Set SLIPWAY_DEFAULT_TARGET to one of those, or add {value!r} to SLIPWAY_TARGETS.",
    # a project's own Akash settings and SDL
    "project:user:akash-settings": "The project's Akash settings are not valid: {detail}.",
    "akash:user:repository-sdl": "{path} in commit {sha} is not a valid Akash SDL: {detail}. Fix it, or remove it to let Slipway write the SDL from the project's settings.",
    "akash:user:sdl-no-service": "{path} in commit {sha} names no service for the image Slipway builds: give exactly one service `image: slipway` (services: {services}). Slipway puts the built image and its registry login there.",
    # build plans (builder/plan) and slipway.toml
    "build:user:no-plan": "Slipway found nothing it knows how to build in {where} of {commit}. It looked for: {looked}. Add a Dockerfile (or set the project's Dockerfile path), or point slipway.toml's root at the directory that holds the app's package.json, requirements.txt, pyproject.toml, go.mod or index.html (README: \"Builds without a Dockerfile\").",
    "build:user:plan": "Slipway recognised a {kind} app in {commit} but cannot plan its build: {detail}.",
    "build:user:slipway-toml": "slipway.toml in {commit} is not valid: {detail}. README: \"slipway.toml\" lists every key.",
}


class SlipwayError(Exception):
    """Base of both families. ``str(err)`` is the user-facing text."""

    def __init__(self, message_id: str, **params: object):
        self.message_id = message_id
        self.params = params
        super().__init__(render(message_id, **params))

    @property
    def user_message(self) -> str:
        return str(self)


class UserError(SlipwayError):
    """The user's code or settings must change."""

    BUILD_NO_DOCKERFILE = "build:user:no-dockerfile"
    BUILD_OUTSIDE_CHECKOUT = "build:user:outside-checkout"
    BUILD_BAD_CONTEXT = "build:user:bad-context"
    BUILD_FAILED = "build:user:build-failed"
    BUILD_TIME_OUT = "build:user:time-out"
    BUILD_COMMIT_NOT_FOUND = "build:user:commit-not-found"
    BUILD_CLONE_FAILED = "build:user:clone-failed"
    BUILD_BAD_REF = "build:user:bad-ref"
    BUILD_GITHUB_ACCESS = "build:user:github-access"
    DEPLOY_UNHEALTHY = "deploy:user:unhealthy"
    DEPLOY_IMAGE_GONE = "deploy:user:image-gone"
    DEPLOY_BAD_COMMIT = "deploy:user:bad-commit"
    DEPLOY_NO_SUCH_REF = "deploy:user:no-such-ref"
    DEPLOY_EXITED = "deploy:user:exited"
    DEPLOY_ALREADY_ENDED = "deploy:user:already-ended"
    DEPLOY_BAD_BRANCH = "deploy:user:bad-branch"
    DEPLOY_BAD_PUSHED_COMMIT = "deploy:user:bad-pushed-commit"
    DEPLOY_BAD_SLOT = "deploy:user:bad-slot"
    DEPLOY_DISCONNECTED = "deploy:user:disconnected"
    DEPLOY_EMPTY_REPOSITORY = "deploy:user:empty-repository"
    DEPLOY_NO_BRANCH = "deploy:user:no-branch"
    DEPLOY_NO_DEPLOYMENT = "deploy:user:no-deployment"
    DEPLOY_NO_IMAGE = "deploy:user:no-image"
    DEPLOY_NO_PROJECT = "deploy:user:no-project"
    DEPLOY_UNREADABLE_BRANCH = "deploy:user:unreadable-branch"
    DEPLOY_UNREADABLE_REF = "deploy:user:unreadable-ref"
    AKASH_SDL = "akash:user:sdl"
    AKASH_NO_BIDS = "akash:user:no-bids"
    AKASH_NEVER_AVAILABLE = "akash:user:never-available"
    AKASH_LOOPBACK_REGISTRY = "akash:user:loopback-registry"
    AKASH_BUDGET_SPENT = "akash:user:budget-spent"
    AUTH_TOO_MANY_SIGN_INS = "auth:user:too-many-sign-ins"
    SETTINGS_RATE_LIMIT = "settings:user:rate-limit"
    SETTINGS_TARGETS = "settings:user:targets"
    SETTINGS_DEFAULT_TARGET = "settings:user:default-target"
    PROJECT_AKASH_SETTINGS = "project:user:akash-settings"
    AKASH_REPOSITORY_SDL = "akash:user:repository-sdl"
    AKASH_SDL_NO_SERVICE = "akash:user:sdl-no-service"
    BUILD_NO_PLAN = "build:user:no-plan"
    BUILD_PLAN = "build:user:plan"
    BUILD_SLIPWAY_TOML = "build:user:slipway-toml"


class AppError(SlipwayError):
    """Slipway or its infrastructure failed; not the user's fault."""

    BUILD_REGISTRY = "build:app:registry"
    BUILD_DOCKER = "build:app:docker"
    DEPLOY_TARGET = "deploy:app:target"
    DEPLOY_NO_GITHUB_APP = "deploy:app:no-github-app"
    DEPLOY_NOT_QUEUED = "deploy:app:not-queued"
    DEPLOY_NOT_RECORDED = "deploy:app:not-recorded"
    GITHUB = "app:github"
    AKASH_NOT_CONFIGURED = "akash:app:not-configured"
    AKASH_TX_REFUSED = "akash:app:tx-refused"
    AKASH_STEP = "akash:app:step"
    AKASH_MANIFEST_REFUSED = "akash:app:manifest-refused"
    UNEXPECTED = "app:unexpected"
    WORKER_LOST = "app:worker-lost"
    # How Slipway ended a deployment that did not fail: recorded as its reason, never raised.
    CANCELLED = "app:cancelled"
    SUPERSEDED = "app:superseded"
    CANCELLED_BY_USER = "app:cancelled-by-user"
    PR_CLOSED = "app:pr-closed"


def render(message_id: str, **params: object) -> str:
    template = MESSAGES[message_id]
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


def check_families(families: tuple[type[SlipwayError], ...], messages: dict[str, str]) -> None:
    """Every id on a family has its text in ``messages``, in the family its id names, and every text an id.

    Run at import, so a mistyped id fails when Slipway starts, not when a user hits it.
    """
    seen: set[str] = set()
    for family in families:
        for name, value in vars(family).items():
            if not name.isupper():
                continue
            if value not in messages:
                raise ImportError(f"{family.__name__}.{name} = {value!r} has no text in MESSAGES")
            if (":user:" in value) != issubclass(family, UserError):
                raise ImportError(f"{family.__name__}.{name} = {value!r} names the other family")
            seen.add(value)
    unnamed = sorted(messages.keys() - seen)
    if unnamed:
        raise ImportError(f"MESSAGES has ids no error family names: {', '.join(unnamed)}")


check_families((UserError, AppError), MESSAGES)
