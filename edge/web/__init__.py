"""The operator screen: a small web page served by the device itself (``claim-edge serve``).

Standard library only (``http.server``), server-rendered HTML, one small script, nothing
fetched from the internet. See ``listen.py`` for binding (a token off loopback), ``server.py``
for the request handler and its access rules, ``body.py`` for request-body limits, ``app.py``
for what the screen does to the store.
"""
