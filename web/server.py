"""Serving the review app: loopback by default, threaded so two curators can work at once."""

from __future__ import annotations

import ipaddress
import re
import socket

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server as _make_server

TOKEN = re.compile(r"token=[^&\s\"']*")


class RequestHandler(WSGIRequestHandler):
    """werkzeug's handler, whose access log never shows the access token (`GET /?token=...`)."""

    def log(self, type: str, message: str, *args) -> None:  # noqa: A002 (werkzeug's name)
        super().log(type, "%s", TOKEN.sub("token=<hidden>", message % args if args else message))


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback address (127.0.0.0/8, ::1)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def make_server(app, host: str = "127.0.0.1", port: int = 8000) -> BaseWSGIServer:
    """A threaded WSGI server for `app`, bound now (port 0 picks a free one: see `.port`).

    Raises OSError when the address cannot be bound (e.g. the port is in use): we bind the socket
    ourselves because werkzeug's own bind exits the process on failure."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
        return _make_server(host, sock.getsockname()[1], app, threaded=True, request_handler=RequestHandler,
                            fd=sock.fileno())
    finally:
        sock.close()  # the server holds its own duplicate of the descriptor
