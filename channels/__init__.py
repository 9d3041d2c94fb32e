"""Channel adapters: pure parsers and senders, one folder per kind."""
