"""Asset readers and the asset cache (0 A.D. models from Debian's 0ad-data) for the embedded renderer."""
