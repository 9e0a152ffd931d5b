"""The codec server: decodes Temporal payloads for authorised people (the Temporal UI, CLIs).

* :mod:`orders.codec_server.app`: the ASGI app (remote codec protocol, CORS, login).
* :mod:`orders.codec_server.auth`: JWT verification against a JWKS, permissions, sessions.
* :mod:`orders.codec_server.server`: the process, running as identity ``codec-server``.
"""
