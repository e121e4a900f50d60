"""The chaos run (`withdraw-service chaos`, docs/chaos.md) and the pieces it breaks things
with: child processes that can be killed and restarted, and a TCP proxy that can cut a
connection path. The crash tests of the integration tier use the same pieces."""
