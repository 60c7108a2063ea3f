"""Failure injection: latency distributions, fault rules, HTTP and wire faults, and the ASGI middleware.

Kept import-light on purpose: ``simulator.settings`` imports :mod:`simulator.faults.latency`, so this
package must not import anything that imports the settings back.
"""
