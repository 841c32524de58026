"""One module per GitHub webhook event: each turns a parsed payload into an ``Outcome``."""
