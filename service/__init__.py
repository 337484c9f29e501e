"""Planwise service: the Quart app, WebSocket and HTTP API, sessions, enrichment, CLI."""
