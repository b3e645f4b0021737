"""The cafe concierge bot: configuration, application wiring and services."""

__version__ = "0.1.0"  # the release; pyproject.toml says the same (tests/test_install.py)
