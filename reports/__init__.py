"""Response-time metrics, rollups and exports: reports land in a later issue."""
