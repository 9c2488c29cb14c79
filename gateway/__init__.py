"""Tukilinja gateway: the aiohttp application, configuration, CLI and lifecycle."""
