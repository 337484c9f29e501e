"""Planwise rules core: catalogue model, validator, engines and plan matcher (no web code)."""
