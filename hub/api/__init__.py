"""REST API v1: bearer-token endpoints under /api/v1/ and their OpenAPI document."""
