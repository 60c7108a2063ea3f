"""tanium-sim: an offline, faithful simulator of Tanium Threat Response.

The ASGI app comes from :func:`simulator.app.create_app`; the command line from ``tanium-sim``.
"""

__version__ = "0.1.0"
