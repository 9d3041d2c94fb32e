"""REST API v1: endpoints under /api/v1/ (bearer token or session cookie), their OpenAPI doc."""
