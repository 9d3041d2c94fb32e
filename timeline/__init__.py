"""Customers, identities, conversations and the one ingest pipeline that persists inbound events."""
