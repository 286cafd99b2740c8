"""Flower app for edge-ssl fleet adaptation (server side, plus a reference NumPy client)."""
