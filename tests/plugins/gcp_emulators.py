"""Fixtures for the Pub/Sub and Cloud Tasks emulators (filled in by the messaging work)."""
