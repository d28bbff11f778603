"""The review web app: a queue of pending inferred edges, decisions, and a calibration summary.

Server-rendered HTML (Flask + Jinja) with a little JavaScript for decisions and keyboard shortcuts.
Every decision goes through `kgstore.review.decide`, the same code as `kgtag review`.

Guards, as in Jupyter: every request needs the per-launch access token (`?token=` in the URL that
`kgtag serve` prints, then an HttpOnly SameSite=Strict cookie), so another local user or process cannot
decide edges under any name; requests whose Host header is not an allowed host are refused (DNS
rebinding); decisions only come as JSON POSTs from the same origin; the pages may not be framed
(X-Frame-Options, CSP frame-ancestors) and run no inline script or style. Errors under /api/ are JSON.
"""

from __future__ import annotations

import hmac
import math
import secrets
from urllib.parse import urlencode, urlsplit

import neo4j
from flask import Flask, abort, jsonify, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from kgtag.kgstore import review
from kgtag.kgstore.vectors import similar_for_edges
from kgtag.kgstore.store import Store, StoreUnavailable

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
PAGE_SIZES = (25, 50, 100, 200)
MAX_OFFSET = 10**9  # a page offset past any queue; a larger number (Neo4j takes 64-bit ones) is a 400
SIMILAR = 5  # similar videos shown beside each inferred edge (when a run's vectors are published)
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(store: Store, curator: str | None = None, allowed_hosts: set[str] | None = LOOPBACK_NAMES,
               token: str | None = None) -> Flask:
    """The app over `store`. `curator`: the name recorded with decisions unless the page gives another.
    `allowed_hosts`: host names accepted in the Host header (None accepts any). `token`: the access
    token every request must carry (a fresh random one when not given: see app.config["KGTAG_TOKEN"])."""
    app = Flask(__name__)
    app.config.update(KGTAG_CURATOR=(curator or "").strip(), KGTAG_ALLOWED_HOSTS=allowed_hosts,
                      KGTAG_TOKEN=token or secrets.token_urlsafe(24))

    @app.before_request
    def _guard_host():
        allowed = app.config["KGTAG_ALLOWED_HOSTS"]
        host = urlsplit("//" + (request.host or "")).hostname or ""
        if allowed is not None and host not in {h.strip("[]") for h in allowed}:
            abort(400, description=f"host {request.host!r} is not served here")

    @app.before_request
    def _guard_token():
        expected = app.config["KGTAG_TOKEN"]
        given = request.args.get("token")
        if given is not None and request.method == "GET" and hmac.compare_digest(given, expected):
            # first visit from the printed link: keep the token in a cookie, drop it from the address bar
            rest = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
            resp = redirect(request.path + ("?" + rest if rest else ""))
            resp.set_cookie(cookie_name(), expected, httponly=True, samesite="Strict")
            return resp
        if not hmac.compare_digest(request.cookies.get(cookie_name(), ""), expected):
            abort(403, description="open the review page with the link `kgtag serve` printed (it holds the access token)")

    @app.after_request
    def _security_headers(resp):
        resp.headers.update(SECURITY_HEADERS)
        return resp

    def _error(message: str, code: int):
        if request.path.startswith("/api/"):
            return jsonify(error=message), code
        return render_template("error.html", message=message), code

    @app.errorhandler(review.ReviewError)
    def _review_error(exc):
        return _error(str(exc), 400)

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        return _error(exc.description or exc.name, exc.code or 500)

    @app.errorhandler(StoreUnavailable)  # kgstore's word for it
    @app.errorhandler(neo4j.exceptions.DriverError)
    def _neo4j_down(exc):
        app.logger.error("Neo4j does not answer: %s", exc)
        return _error("Neo4j does not answer; nothing was saved: try again once it is back", 503)

    @app.errorhandler(Exception)
    def _bug(exc):
        app.logger.exception("internal error")
        return _error(f"internal error ({type(exc).__name__}); see the kgtag serve log", 500)

    @app.get("/")
    def queue():
        args = request.args
        relation = args.get("relation") or None
        run = args.get("run") or None
        min_conf = _number(args.get("min"), 0.0, "min")
        max_conf = _number(args.get("max"), 1.0, "max")
        limit = _int(args.get("limit"), 50, PAGE_SIZES)
        offset = _int(args.get("offset"), 0, bounds=(0, MAX_OFFSET), name="offset")
        edges = review.pending(store, relation, run, min_conf, max_conf, limit=limit, offset=offset, details=True)
        total = review.count_pending(store, relation, run, min_conf, max_conf)
        segments = _segments(edges)
        similar = similar_for_edges(store, [(e.video, e.tag) for e in edges], SIMILAR)
        return render_template(
            "queue.html", edges=edges, total=total, segments=segments, choices=review.filters(store), similar=similar,
            f={"relation": relation or "", "run": run or "", "min": min_conf, "max": max_conf,
               "limit": limit, "offset": offset},
            page_sizes=PAGE_SIZES, curator=app.config["KGTAG_CURATOR"],
        )

    @app.get("/summary")
    def summary():
        run = request.args.get("run") or None
        s = review.summary(store, run=run)
        runs = [r for r, _ in review.filters(store)["runs"]]
        return render_template("summary.html", s=s, run=run or "", runs=sorted(set(runs) | ({run} if run else set())),
                               curator=app.config["KGTAG_CURATOR"])

    @app.post("/api/decide")
    def decide():
        if not request.is_json:
            return jsonify(error="send the decision as JSON (Content-Type: application/json)"), 415
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            return jsonify(error=f"cross-origin decision refused (Origin {origin})"), 403
        body = request.get_json(silent=True) or {}
        ids = body.get("ids")
        if isinstance(ids, str):
            ids = [ids]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids:
            return jsonify(error="give the edge ids to decide as a list: {\"ids\": [...]}"), 400
        given = body.get("curator")
        if given is not None and not isinstance(given, str):
            return jsonify(error=f"curator must be a name (a JSON string), not a JSON {_json_kind(given)}"), 400
        curator = (given or app.config["KGTAG_CURATOR"] or "").strip()
        if not curator:
            return jsonify(error="enter your name (curator) before deciding"), 400
        result = review.decide(store, ids, str(body.get("decision", "")), curator)
        conflicts = [{"id": c.id, "status": c.status, "decided_by": c.decided_by, "decided_at": c.decided_at,
                      "message": c.message()} for c in result.already_decided]
        payload = {
            "decision": result.decision, "curator": curator, "decided": result.decided,
            "already_decided": conflicts, "missing": result.missing,
            "message": _message(result, conflicts),
        }
        return jsonify(payload), (409 if conflicts else 404 if result.missing and not result.decided else 200)

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    return app


def cookie_name() -> str:
    """One cookie per port: two `kgtag serve` on one host keep their own tokens."""
    return f"kgtag_token_{urlsplit('//' + (request.host or '')).port or 80}"


def _message(result: review.DecideResult, conflicts: list[dict]) -> str:
    parts = []
    if result.decided:
        parts.append(f"{result.decision} {len(result.decided)} edge{'s' * (len(result.decided) != 1)}")
    if conflicts:
        if len(conflicts) == 1:
            parts.append(conflicts[0]["message"])
        else:
            parts.append(f"{len(conflicts)} already decided by someone else")
    if result.missing:
        parts.append(f"{len(result.missing)} no longer exist (replaced by a newer run?)")
    return "; ".join(parts)


def _segments(edges: list[review.Edge]) -> list[str]:
    """The attention segments to show as bars: knowledge first, then modalities in name order."""
    names = {k for e in edges for k in e.attention}
    return sorted(names, key=lambda n: (n != "knowledge", n))


def _json_kind(value) -> str:
    return {dict: "object", list: "array", bool: "boolean", int: "number", float: "number"}.get(type(value), type(value).__name__)


def _number(value: str | None, default: float, name: str = "value") -> float:
    if value in (None, ""):
        return default
    try:
        number = float(value[:40])
    except ValueError:
        raise review.ReviewError(f"{name}: not a number: {value[:40]!r}") from None
    if not math.isfinite(number):
        raise review.ReviewError(f"{name}: not a finite number: {value[:40]!r}")
    return number


def _int(value: str | None, default: int, allowed: tuple[int, ...] | None = None,
         bounds: tuple[int, int] | None = None, name: str = "value") -> int:
    """An integer parameter: `allowed` values (else the default), or within `bounds` (else a 400)."""
    if value not in (None, "") and (len(value) > 20 or not value.strip().lstrip("+-").isdecimal()):
        raise review.ReviewError(f"{name}: not a whole number: {value[:40]!r}")
    n = int(value) if value not in (None, "") else default
    if bounds is not None and not bounds[0] <= n <= bounds[1]:
        raise review.ReviewError(f"{name} must be between {bounds[0]} and {bounds[1]:,}, not {value[:40]}")
    return n if allowed is None or n in allowed else default
