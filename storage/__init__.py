"""Infrastructure: the SQL toolkit and the writers that carry out what the core decides."""
