"""SDL examples: the table tests/deployer/akash/test_manifest.py checks against chain-sdk, which the
SDL parser's and the CLI's tests reuse."""

from __future__ import annotations

from deployer.akash.sdl import DeploymentSpec, GpuSpec, RegistryCredentials, ServiceSpec, generate_sdl


def sdl(services: str, compute: str, placement: str, deployment: str, version: str = "2.0", extra: str = "") -> str:
    return (f'version: "{version}"\nservices:\n{services}\nprofiles:\n  compute:\n{compute}\n'
            f"  placement:\n{placement}\ndeployment:\n{deployment}\n{extra}")


WEB_COMPUTE = "    web:\n      resources: {cpu: {units: 0.5}, memory: {size: 512Mi}, storage: {size: 1Gi}}"
DC_WEB = "    dcloud:\n      pricing: {web: {denom: uact, amount: 1000}}"

ONE_SERVICE = sdl(
    "  web:\n    image: nginx:1.25\n    expose:\n      - port: 80\n        as: 80\n        to: [{global: true}]",
    WEB_COMPUTE, DC_WEB, "  web:\n    dcloud: {profile: web, count: 1}",
)

SEVERAL_SERVICES = sdl(
    """  web:
    image: ghcr.io/acme/web:2
    depends-on: []
    env: [DATABASE_URL=postgres://db:5432/app, MODE=prod]
    command: [sh, -c]
    args: ["exec gunicorn app:app"]
    expose:
      - port: 8000
        as: 80
        accept: [app.example.com, www.example.com]
        http_options: {max_body_size: 2097152, next_cases: [off]}
        to: [{global: true}]
      - port: 9090
        proto: udp
        to: [{global: true}]
  db:
    image: postgres:16
    params:
      storage:
        pgdata: {mount: /var/lib/postgresql/data}
        scratch: {mount: /scratch, readOnly: false}
    expose:
      - port: 5432
        to: [{service: web}]""".replace("    depends-on: []\n", ""),
    WEB_COMPUTE + """
    db:
      resources:
        cpu: {units: "250m", attributes: {arch: amd64}}
        memory: {size: 1.5Gi}
        storage:
          - size: 512M
          - name: pgdata
            size: 10Gi
            attributes: {persistent: true, class: beta3}
          - name: scratch
            size: 1G
            attributes: {class: ram}""",
    "    dcloud:\n      attributes: {region: us-west, Tier: community}\n      signedBy: {allOf: [akash1aaa], anyOf: [akash1bbb, akash1ccc]}\n"
    "      pricing: {web: {denom: uact, amount: 1000}, db: {denom: uact, amount: \"250.5\"}}",
    "  web:\n    dcloud: {profile: web, count: 2}\n  db:\n    dcloud: {profile: db, count: 1}",
)

CREDENTIALS = sdl(
    """  web:
    image: registry.example.com:5000/acme/web@sha256:0123
    credentials: {host: registry.example.com:5000, username: deploy, password: s3cret-pw}
    expose: [{port: 3000, as: 80, to: [{global: true}]}]
  worker:
    image: ghcr.io/acme/worker
    credentials: {host: ghcr.io, username: acme, password: ghp_abcdef, email: ops@example.com}""",
    WEB_COMPUTE, "    dcloud:\n      pricing: {web: {denom: uact, amount: 1000}}",
    "  web:\n    dcloud: {profile: web, count: 1}\n  worker:\n    dcloud: {profile: web, count: 1}",
)

GPU = sdl(
    "  llm:\n    image: vllm/vllm-openai\n    expose: [{port: 8000, as: 8000, to: [{global: true}]}]",
    """    llm:
      resources:
        cpu: {units: 8}
        memory: {size: 64Gi}
        storage: [{size: 100Gi}]
        gpu:
          units: 2
          attributes:
            vendor:
              nvidia:
                - model: h100
                  ram: 80Gi
                  interface: sxm
                - model: a100
                - {model: rtx4090, ram: 24Gi}""",
    "    gpu-dc:\n      pricing: {llm: {denom: uact, amount: 100000}}",
    "  llm:\n    gpu-dc: {profile: llm, count: 1}",
)

GPU_ANY_MODEL = GPU.replace("""              nvidia:
                - model: h100
                  ram: 80Gi
                  interface: sxm
                - model: a100
                - {model: rtx4090, ram: 24Gi}""", "              nvidia:")

ENV_ESCAPING = sdl(
    """  web:
    image: nginx
    env:
      - "HTML=<a href=\\"x\\">&amp;</a>"
      - "QUOTES='single' \\"double\\" back\\\\slash"
      - "UNICODE=h\u00e9llo w\u00f6rld \u65e5\u672c \U0001F680"
      - "CTRL=tab\\there\\nnewline"
      - "EMPTY="
    expose: [{port: 80, accept: ["a&b.example.com"], to: [{global: true}]}]""",
    WEB_COMPUTE, DC_WEB, "  web:\n    dcloud: {profile: web, count: 1}",
)

SEVERAL_PLACEMENTS = sdl(
    """  web:
    image: nginx
    expose: [{port: 80, as: 80, to: [{global: true}]}]
  api:
    image: api
    expose: [{port: 3000, as: 3000, to: [{global: true}]}]""",
    WEB_COMPUTE + "\n    api:\n      resources: {cpu: {units: 1}, memory: {size: 1Gi}, storage: {size: 2Gi}}",
    """    eu:
      attributes: {region: eu-central, host: akash}
      pricing: {api: {denom: uact, amount: 2000}}
    us:
      attributes: {region: us-east}
      signedBy: {anyOf: [akash1auditor]}
      pricing: {web: {denom: uact, amount: 1000}, api: {denom: uact, amount: 3000}}""",
    "  web:\n    us: {profile: web, count: 1}\n  api:\n    eu: {profile: api, count: 1}\n    us: {profile: api, count: 2}",
)

COUNT = ONE_SERVICE.replace("count: 1", "count: 5")

V21_IP = sdl(
    """  web:
    image: nginx
    params:
      permissions: {read: [deployment, logs]}
    expose:
      - port: 80
        as: 80
        http_options: {read_timeout: 30000, next_tries: 5, next_cases: [error, "502"]}
        to: [{global: true, ip: myendpoint}]
      - port: 443
        to: [{global: true, ip: myendpoint}, {global: true}]""",
    WEB_COMPUTE, DC_WEB, "  web:\n    dcloud: {profile: web, count: 1}",
    version="2.1", extra="endpoints:\n  myendpoint: {kind: ip}\n",
)

GENERATED_ONE = generate_sdl(ServiceSpec(
    name="app", image="127.0.0.1:5000/acme/app:abc123", port=8080, accept=("app.example.com",),
    env={"A": "<b>&c", "B": "0o17", "C": "yes", "D": "é"}, command=("python",), args=("-m", "app"),
    count=2, cpu=1.5, memory="1Gi", storage="5Gi",
    credentials=RegistryCredentials(host="127.0.0.1:5000", username="slipway", password="pw123456"),
    price_uact="1500",
))

GENERATED_MANY = generate_sdl(DeploymentSpec(
    services=(
        ServiceSpec(name="web", image="nginx", accept=("x.example.com",)),
        ServiceSpec(name="gpu", image="ghcr.io/a/gpu", port=None, cpu="2000m", memory="16Gi",
                    gpu=GpuSpec(units=1, model="rtx4090", ram="24Gi", interface="pcie"), price_uact=50000),
    ),
    placement="west", attributes={"region": "us-west"},
    signed_by_all_of=("akash1x",), signed_by_any_of=("akash1y", "akash1z"),
))

# The older SDL class and generateManifest disagree on these; we follow generateManifest.
UNSORTED_PLACEMENTS = SEVERAL_PLACEMENTS.replace("    eu:", "    zz:").replace("eu: {profile", "zz: {profile")
SHARED_PROFILE = sdl(
    """  web:
    image: nginx
    params: {}
    expose: [{port: 80, as: 80, to: [{global: true}]}]
  api:
    image: api
    env: []
    expose: [{port: 3000, as: 8080, to: [{global: true}]}]""",
    WEB_COMPUTE, DC_WEB, "  web:\n    dcloud: {profile: web, count: 1}\n  api:\n    dcloud: {profile: web, count: 3}",
)

# localeCompare puts "_" before "-" (code points the other way round), and this order decides resource ids.
LOCALE_ORDER = sdl(
    "  app-b:\n    image: b\n    expose: [{port: 80, to: [{global: true}]}]\n  app_b:\n    image: c\n    expose: [{port: 81, to: [{global: true}]}]",
    "    p1:\n      resources: {cpu: {units: 1}, memory: {size: 1Gi}, storage: {size: 1Gi}}\n"
    "    p2:\n      resources: {cpu: {units: 2}, memory: {size: 1Gi}, storage: {size: 1Gi}}",
    "    dcloud:\n      pricing: {p1: {denom: uact, amount: 1}, p2: {denom: uact, amount: 2}}",
    "  app-b:\n    dcloud: {profile: p1, count: 1}\n  app_b:\n    dcloud: {profile: p2, count: 1}",
)

ENV_MUTATED = ENV_ESCAPING.replace("EMPTY=", "EMPTY=x")

# name -> (yaml, whether chain-sdk's SDL class agrees with generateManifest on it)
TABLE: dict[str, tuple[str, bool]] = {
    "one_service": (ONE_SERVICE, True),
    "several_services": (SEVERAL_SERVICES, True),
    "credentials": (CREDENTIALS, False),  # two services sharing one profile
    "gpu": (GPU, True),
    "gpu_any_model": (GPU_ANY_MODEL, True),
    "env_escaping": (ENV_ESCAPING, True),
    "env_mutated": (ENV_MUTATED, True),
    "several_placements": (SEVERAL_PLACEMENTS, True),
    "count": (COUNT, True),
    "v21_ip_endpoints": (V21_IP, False),  # SDL class leaves group endpoints unsorted
    "generated_one": (GENERATED_ONE, True),
    "locale_order": (LOCALE_ORDER, True),
    "generated_many": (GENERATED_MANY, False),  # SDL class crashes on a service without expose
    "unsorted_placements": (UNSORTED_PLACEMENTS, False),
    "shared_profile": (SHARED_PROFILE, False),
}
