"""The cafe concierge bot: configuration, application wiring and services."""
