"""Enrichers shipped with the service, named by a short name in ``PLANWISE_ENRICHERS`` (``http``)."""
