"""Driven by trio: the counterparts of the asyncio-specific clauses."""
