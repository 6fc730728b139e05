"""Local HTTP servers that answer like the X API v2 and Meta's Graph API, for tests."""
