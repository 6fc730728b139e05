"""Local servers that speak a platform's protocol, for tests (no network, no mocks)."""
