"""Email channel: pure MIME parsing and reply splitting; the adapter comes later."""
