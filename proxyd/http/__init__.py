"""The HTTP surface clients call: proxy and ops routes, the error middleware, the access log.

The admin routes are ``proxyd/admin``.
"""
