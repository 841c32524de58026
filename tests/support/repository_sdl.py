"""A repository's own Akash SDL, for the tests of deploy.yaml: one service, ``image: slipway``."""

REPOSITORY_SDL = """\
version: "2.0"
services:
  web:
    image: slipway
    env:
      - PORT=8080
      - GREETING=from the repository
    expose:
      - port: 8080
        as: 80
        to:
          - global: true
profiles:
  compute:
    web:
      resources:
        cpu:
          units: 0.3
        memory:
          size: 300Mi
        storage:
          size: 1Gi
  placement:
    akash:
      pricing:
        web:
          denom: uact
          amount: 120
deployment:
  web:
    akash:
      profile: web
      count: 1
"""
