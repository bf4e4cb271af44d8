"""One module per page: ``layout(...)`` builds it from URL state, ``register(app, ...)``
attaches its callbacks to one app instance (no global callbacks)."""
