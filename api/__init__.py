"""Interfaces for other programs (the MCP server). A peer of ``ui``: it may import ``qa.engine`` and
below, ``ui`` and ``api`` never import each other, and only ``qa/commands`` imports it."""
