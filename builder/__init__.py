"""Builder: fetch a commit, build its image, push it to the registry."""
