"""Built-in enrichers (see service/enrich.py for the interface)."""
