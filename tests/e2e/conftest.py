"""Reuse the web tests' small place and app."""

from tests.web.conftest import app, web_home

__all__ = ["app", "web_home"]
