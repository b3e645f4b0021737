"""Fakes of the outside world that speak the real wire protocols (HTTP), for end-to-end tests."""
