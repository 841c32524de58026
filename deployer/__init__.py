"""Deploy targets: where a built image runs (the local Docker Engine, Akash)."""
