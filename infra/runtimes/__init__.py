"""Runtimes: where a deployment's instances run (a local process, a container, a remote URL)."""
