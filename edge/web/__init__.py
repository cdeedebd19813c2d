"""The operator screen: a small web page served by the device itself (``claim-edge serve``).

Standard library only (``http.server``), server-rendered HTML, one small script, nothing
fetched from the internet. See ``server.py`` for binding and access rules, ``app.py`` for what
the screen does to the store.
"""
