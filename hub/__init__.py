"""Composition root: configuration, app factory, CLI, REST API, jobs and wiring."""
