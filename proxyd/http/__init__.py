"""The HTTP surface: proxy routes, admin routes, middleware."""
