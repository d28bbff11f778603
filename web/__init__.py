"""kgtag.web: the curators' review page (`kgtag serve`), backed by kgstore.review."""

from .app import create_app
from .server import is_loopback, make_server

__all__ = ["create_app", "is_loopback", "make_server"]
