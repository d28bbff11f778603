"""`kgtag serve`: the curators' review page in a browser (kgtag.web), on loopback by default."""

from __future__ import annotations

import getpass
import secrets

import click

from .options import connection_options
from .output import CliError, serve_until_interrupted


@click.command("serve")
@connection_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--curator", envvar="KGTAG_CURATOR", show_envvar=True,
              help="Name recorded with each decision [default: your login name]; the page can change it.")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host. Anyone who has the printed link (it holds the access "
                   "token) can decide, and plain HTTP shows it to the network: prefer an SSH tunnel.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="With --allow-remote: a host name clients use to reach the page (repeatable); other "
                   "Host headers are refused. --host is allowed unless it is 0.0.0.0 or ::.")
def serve(conn, host, port, curator, allow_remote, allowed_hosts):
    """Serve the review page: a queue of inferred tags to accept or reject, and a summary.

    \b
    Example:
      kgtag serve --curator alice
      # then open the printed link (http://127.0.0.1:8000/?token=...); keys: j/k move, a accept, r reject, x select

    The link holds a per-launch access token (as in Jupyter); the page keeps it in a cookie, and
    requests without it are refused, so other local users and processes cannot decide.

    Decisions are written to Neo4j at once, with the curator's name and the time; accepted tags
    become triples (source 'review'), rejected ones known negatives for the next `kgtag train`.
    Same rules as `kgtag review`.
    """
    from kgtag.web import create_app, is_loopback, make_server
    from kgtag.web.app import LOOPBACK_NAMES

    loopback = is_loopback(host)
    if not loopback and not allow_remote:
        raise CliError(f"--host {host} is not a loopback address; serving the review page beyond this machine "
                       "needs --allow-remote (and --allowed-host NAME for the names clients use)")
    from kgtag.kgstore.review import check_curator

    curator = check_curator(curator) if curator else _login_name()
    hosts = set(LOOPBACK_NAMES)
    if not loopback:  # a wildcard bind is no name a client uses: those come from --allowed-host
        hosts |= {h for h in (host, *allowed_hosts) if h.strip("[]") not in ("0.0.0.0", "::")}
    token = secrets.token_urlsafe(24)
    store = conn.open()
    try:
        app = create_app(store, curator=curator, allowed_hosts=hosts, token=token)
        try:
            server = make_server(app, host, port)
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port") from None
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"kgtag review page on http://{shown}:{server.port}/?token={token} "
                   f"(curator: {curator or 'asked on the page'}); Ctrl-C stops it", err=True)
        serve_until_interrupted(server)
    finally:
        store.close()


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment: the page asks for one
        return ""
