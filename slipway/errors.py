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
    "akash:user:budget-spent": "The project's Akash budget is spent: {detail}. {what} A higher budget (the project's Akash settings, or SLIPWAY_AKASH_BUDGET) takes effect at the next deploy for a total budget, with the next grant period for a monthly one.",
    "akash:user:loopback-registry": "The image is in the registry at {registry}, which only this machine can reach, so no provider on the {network} Akash network could pull it. Publish the registry over TLS at a public address and set SLIPWAY_REGISTRY to it (README: \"Deploying to a real Akash network\").",
    "akash:app:step": "Deploying on Akash failed while {step}: {detail}. Any deployment created on the way is closed, so no deposit stays locked.",
    "akash:app:manifest-refused": "Provider {provider} refused the deployment's manifest ({detail}), so {what}.",
    "akash:app:provider-logs": "Provider {provider} did not give the app's output ({detail}); the app itself is not affected. Try again in a moment.",
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
    # accounts: signing in with GitHub, access, API tokens, teams, the CLI's remote login
    "auth:user:github-not-configured": "Sign in with GitHub needs the GitHub App's OAuth client: the operator creates the App on the GitHub page, or sets SLIPWAY_GITHUB_CLIENT_ID and SLIPWAY_GITHUB_CLIENT_SECRET.",
    "auth:user:oauth-state": "This sign-in did not start here (its state does not match, or it was already used). Nothing was stored: sign in with GitHub again.",
    "auth:user:oauth-denied": "GitHub did not authorize the sign-in. Try again, and authorize the App.",
    "auth:user:oauth-no-code": "GitHub sent no code back, so there is nothing to sign in with. Try again.",
    "auth:user:oauth-code": "GitHub did not accept the sign-in (the code was already used or has expired). Sign in with GitHub again.",
    "auth:app:github-sign-in": "GitHub answered {status} while Slipway finished the sign-in. Try again in a moment.",
    "auth:user:api-credential": "sign in: send Authorization: Bearer <API token> (`slipway login URL` or POST /api/tokens makes one) or Bearer <SLIPWAY_ADMIN_PASSWORD>",
    "access:user:not-found": "not found",
    "access:user:role": "your role on this project is {role}, which may not {action}",
    "access:user:scope": "this API token's scope is {scope}, which may not {action}",
    "access:user:team-owner": "only the team's owners change it",
    "token:user:name": "give the token a name of 1 to {most} characters (what it is for)",
    "token:user:scope": "the scope must be one of {scopes}, not {value!r}",
    "token:user:days": "a token lives 1 to {most} days; {value!r} is not that",
    "team:user:slug": "a team's slug is 1 to 40 lowercase letters, digits and dashes, e.g. web-team; {value!r} is not",
    "team:user:exists": "there is already a team {slug}",
    "team:user:login": "{value!r} is not a GitHub login",
    "team:user:role": "a role is one of {roles}, not {value!r}",
    "team:user:last-owner": "a team keeps at least one owner: make someone else its owner first",
    "team:user:not-owner": "you own no team {slug}",
    "cli:user:login-expired": "the remote Slipway does not take this login any more (expired or revoked token): run `slipway login URL` again",
    "cli:user:unreachable": "cannot reach {url}: {reason}",
    # tying a project to the GitHub App's installation (`slipway project create --github`)
    "project:user:app-not-installed": "The GitHub App is not installed on {repo}, or its installation does not grant that repository. Install the App on it (or add {repo} to the installation's repositories) from {url}, then try again; or give --repo URL to build from a URL without the App.",
    "project:user:installation-suspended": "The GitHub App's installation on {account} (installation {id}) is suspended on GitHub; unsuspend it before connecting {repo}.",
    "build:user:secret-in-image-stage": "{path} in commit {sha} declares ARG {name} in {stage} (line {line}), but {name} is a build-time variable, a secret: the Docker build would write its value into the pushed image's history. Declare it only in a build stage the image is not made FROM (`FROM ... AS build`), and `COPY --from=build` just what that stage makes.",
    "build:user:out-of-memory": "A build step was killed ({detail}) for using more memory than the build's limit of {memory} (SLIPWAY_BUILD_MEMORY). Make the step use less memory, or ask the operator to raise the limit. The build log shows the step.",
    "build:user:killed": "A build step was killed ({detail}) with SIGKILL, and not for its memory (the Docker Engine saw no out-of-memory kill; the build's limit is {memory}): a process in the step, or on the build host, killed it. The build log shows the step.",
    "build:user:no-build-slot": "No build slot freed within {seconds} seconds: the build host runs {limit} build(s) at a time (SLIPWAY_BUILDS_PER_HOST) and all stayed busy. Deploy again later, or ask the operator to raise the limit.",
    # the reverse proxy and custom domains (slipway.proxy, slipway.domains)
    "deploy:app:proxy": "Slipway could not route the new version through its proxy ({detail}), so it was stopped and the previous version keeps serving.",
    "domain:user:invalid": "{name!r} cannot be a custom domain: {problem}.",
    "domain:user:taken": "{name} is already a domain of project {project}; remove it there first (slipway domain remove {project} {name}).",
    "domain:user:not-found": "{name} is not a domain of {project}; see `slipway domain list {project}`.",
    "settings:user:proxy-admin": "SLIPWAY_PROXY_ADMIN is {value!r}: {problem}. Leave it empty for a Unix socket in the data dir, give unix:///PATH, or give the HOST:PORT of a Caddy on another machine (firewalled, see the README).",
    # notifications' settings
    "settings:user:smtp-security": "SLIPWAY_SMTP_SECURITY is {value!r}, which is not a way Slipway secures SMTP. Give one of: {known}.",
    "settings:user:notify-allow-private": "SLIPWAY_NOTIFY_ALLOW_PRIVATE is {value!r}: {problem}. Give comma-separated networks or addresses, like 10.0.5.0/24,fd00:5::7.",
    # where notifications may go (slipway.notifications.egress)
    "notify:user:private-target": "{address} is a private address (loopback, internal network, link-local or cloud metadata) that SLIPWAY_NOTIFY_ALLOW_PRIVATE does not allow, so Slipway will not send the {kind} webhook to {host}. Give a public URL; or, for an internal relay, the operator adds {address} to SLIPWAY_NOTIFY_ALLOW_PRIVATE",
    "notify:user:chat-host": "a {kind} webhook must be an https URL at {hosts}, as {kind} gives it; {host} is not one. (An internal relay is accepted only in a network the operator lists in SLIPWAY_NOTIFY_ALLOW_PRIVATE.)",
    "notify:app:worker-lost": "The worker sending this notification stopped before it finished ({why}); it was not sent again, so it may or may not have arrived.",
    "notify:user:unresolvable": "the {kind} webhook's host {host} does not resolve to an address ({detail}); check the URL",
    "dash:user:no-such-team": "you cannot add projects to a team {team}: choose one of your teams",
    "dash:user:team-needed": "choose the team the project belongs to (a git-push project is seen by its team only)",
    "dash:user:no-such-repo": "choose one of the repositories listed: the App must be installed on it and you must be able to push to it",
    "dash:user:nothing-to-roll-back": "there is no earlier production version with an image to roll back to",
    "dash:user:delete-confirm": "type the project's name, {name}, to delete it",
    # build plans (builder/plan) and slipway.toml
    "build:user:no-plan": "Slipway found nothing it knows how to build in {where} of {commit}. It looked for: {looked}. Add a Dockerfile (or set the project's Dockerfile path), or point slipway.toml's root at the directory that holds the app's package.json, requirements.txt, pyproject.toml, go.mod or index.html (README: \"Builds without a Dockerfile\").",
    "build:user:plan": "Slipway recognised a {kind} app in {commit} but cannot plan its build: {detail}.",
    "build:user:slipway-toml": "slipway.toml in {commit} is not valid: {detail}. README: \"slipway.toml\" lists every key.",
    "cli:user:local-only": "`slipway {command}` runs on the Slipway machine, against its own data (the JSON API has no route for it); you are logged in to {url}: run it there, or `slipway logout` to work locally",
    "project:user:url-public": "Slipway cannot clone {url} for you: {why}. Through the dashboard or the API a project clones an https:// (or http://) repository on the public internet; paths, file://, ssh:// and git@ URLs and addresses on Slipway's own network are its operator's (`slipway project create --repo` on the Slipway machine)",
    "project:user:url-github": "only Slipway's operator ties a cloned repository to a GitHub repository's webhook; connect the repository through the GitHub App instead (--github owner/name alone, or the dashboard's New project)",
    "project:app:delete-target": "Could not delete {name}: its {target} target failed ({detail}). {kept} Try again once the target answers (the operator's log says more).",
    # custom domains' certificates (deployer.caddy.Acme)
    "settings:user:seconds": "{name} is {value!r}: give a number of seconds, at least {least}.",
    "settings:user:acme-ca": "SLIPWAY_ACME_CA is {value!r}, which is not an ACME directory: give its https:// URL (like https://acme-staging-v02.api.letsencrypt.org/directory), or leave it unset for Let's Encrypt.",
    # a deployment's own URL while it is not live (slipway.wake)
    "wake:user:not-found": "No deployment answers at this address.",
    "wake:user:gone": "Deployment {id} of {project} is no longer kept: its image was removed from the registry. Redeploy its commit from the dashboard to run it again.",
    "wake:user:not-running": "Deployment {id} of {project} is no longer running (it ran on {target}, and what ran it is closed). Redeploy it from the dashboard to run it again.",
    "wake:user:failed": "Deployment {id} of {project} could not be started again: {detail} Redeploy it from the dashboard, or try again in a few minutes.",
    "wake:user:busy": "{limit} earlier versions already run on demand here (SLIPWAY_WAKE_MAX), so deployment {id} of {project} cannot start now. Try again in a few minutes.",
    "wake:user:off": "Deployment {id} of {project} is not live, and this Slipway does not start earlier versions on demand (SLIPWAY_WAKE_MAX is 0). Roll back to it from the dashboard to run it again.",
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
    AUTH_GITHUB_NOT_CONFIGURED = "auth:user:github-not-configured"
    AUTH_OAUTH_STATE = "auth:user:oauth-state"
    AUTH_OAUTH_DENIED = "auth:user:oauth-denied"
    AUTH_OAUTH_NO_CODE = "auth:user:oauth-no-code"
    AUTH_OAUTH_CODE = "auth:user:oauth-code"
    AUTH_API_CREDENTIAL = "auth:user:api-credential"
    ACCESS_NOT_FOUND = "access:user:not-found"
    ACCESS_ROLE = "access:user:role"
    ACCESS_SCOPE = "access:user:scope"
    ACCESS_TEAM_OWNER = "access:user:team-owner"
    TOKEN_NAME = "token:user:name"
    TOKEN_SCOPE = "token:user:scope"
    TOKEN_DAYS = "token:user:days"
    TEAM_SLUG = "team:user:slug"
    TEAM_EXISTS = "team:user:exists"
    TEAM_LOGIN = "team:user:login"
    TEAM_ROLE = "team:user:role"
    TEAM_LAST_OWNER = "team:user:last-owner"
    TEAM_NOT_OWNER = "team:user:not-owner"
    CLI_LOGIN_EXPIRED = "cli:user:login-expired"
    CLI_UNREACHABLE = "cli:user:unreachable"
    PROJECT_APP_NOT_INSTALLED = "project:user:app-not-installed"
    PROJECT_INSTALLATION_SUSPENDED = "project:user:installation-suspended"
    BUILD_SECRET_IN_IMAGE_STAGE = "build:user:secret-in-image-stage"
    BUILD_OUT_OF_MEMORY = "build:user:out-of-memory"
    BUILD_KILLED = "build:user:killed"
    BUILD_NO_SLOT = "build:user:no-build-slot"
    # Custom domains (slipway.domains)
    DOMAIN_INVALID = "domain:user:invalid"
    DOMAIN_TAKEN = "domain:user:taken"
    DOMAIN_NOT_FOUND = "domain:user:not-found"
    SETTINGS_PROXY_ADMIN = "settings:user:proxy-admin"
    SETTINGS_SMTP_SECURITY = "settings:user:smtp-security"
    SETTINGS_NOTIFY_ALLOW_PRIVATE = "settings:user:notify-allow-private"
    NOTIFY_PRIVATE_TARGET = "notify:user:private-target"
    NOTIFY_CHAT_HOST = "notify:user:chat-host"
    NOTIFY_UNRESOLVABLE = "notify:user:unresolvable"
    DASH_NO_SUCH_TEAM = "dash:user:no-such-team"
    DASH_TEAM_NEEDED = "dash:user:team-needed"
    DASH_NO_SUCH_REPO = "dash:user:no-such-repo"
    DASH_NOTHING_TO_ROLL_BACK = "dash:user:nothing-to-roll-back"
    DASH_DELETE_CONFIRM = "dash:user:delete-confirm"
    BUILD_NO_PLAN = "build:user:no-plan"
    BUILD_PLAN = "build:user:plan"
    BUILD_SLIPWAY_TOML = "build:user:slipway-toml"
    CLI_LOCAL_ONLY = "cli:user:local-only"
    PROJECT_URL_PUBLIC = "project:user:url-public"
    PROJECT_URL_GITHUB = "project:user:url-github"
    SETTINGS_ACME_CA = "settings:user:acme-ca"
    SETTINGS_SECONDS = "settings:user:seconds"
    WAKE_NOT_FOUND = "wake:user:not-found"
    WAKE_GONE = "wake:user:gone"
    WAKE_NOT_RUNNING = "wake:user:not-running"
    WAKE_FAILED = "wake:user:failed"
    WAKE_BUSY = "wake:user:busy"
    WAKE_OFF = "wake:user:off"


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
    AKASH_PROVIDER_LOGS = "akash:app:provider-logs"
    UNEXPECTED = "app:unexpected"
    WORKER_LOST = "app:worker-lost"
    NOTIFY_WORKER_LOST = "notify:app:worker-lost"
    # How Slipway ended a deployment that did not fail: recorded as its reason, never raised.
    CANCELLED = "app:cancelled"
    SUPERSEDED = "app:superseded"
    CANCELLED_BY_USER = "app:cancelled-by-user"
    PR_CLOSED = "app:pr-closed"
    AUTH_GITHUB_SIGN_IN = "auth:app:github-sign-in"
    # The reverse proxy (slipway.proxy)
    DEPLOY_PROXY = "deploy:app:proxy"
    PROJECT_DELETE_TARGET = "project:app:delete-target"


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
