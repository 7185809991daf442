"""Self-test adapter: fails to import."""
raise ImportError("this adapter is broken on purpose")
