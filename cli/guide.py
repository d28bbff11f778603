"""kgtag guide: the analysts' queries as a Neo4j Browser guide, one click away.

Neo4j Browser (5.x) opens a guide from a URL with `:guide <url>`, or straight from its address bar with
`/browser/?cmd=guide&arg=<url>`. It fetches the guide with a cross-origin request from a host on its
allowlist (`browser.remote_content_hostname_whitelist`, default `guides.neo4j.com, localhost`), so this
command serves the guide on http://localhost:PORT with CORS headers for the Browser's origin only
(--browser; its loopback aliases too): the guide holds ids from the graph, and no other web page may read it. Each query is a block that,
clicked, lands in the editor; the first block sets its parameters, filled with ids from your graph.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import quote, urlsplit

import click

from kgtag.kgstore.overview import guide_ids
from kgtag.kgstore.store import cypher

from .options import connection_options
from .output import info, serve_until_interrupted

# (file, title) in the order an analyst meets them
QUERIES = [
    ("video_top_tags", "Top inferred tags of a video"),
    ("video_graph", "A video as a graph: known and inferred tags"),
    ("video_tags", "Tags a video already has"),
    ("tag_videos", "Videos for a tag"),
    ("review_queue", "Low-confidence edges for review"),
    ("relations_by_attention", "Relations ranked by attention"),
    ("modality_attention_avg", "Average modality attention"),
    ("edge_modality_attention", "Which modality drove each inferred tag (relation-conditioned runs)"),
    ("run_diff", "What changed between two runs"),
    ("similar_videos", "Similar videos (published vectors)"),
    ("live_tags", "Live tags: nearest to h_vid + r (published vectors)"),
    ("tag_neighbours", "Tag neighbourhood (published vectors)"),
]
# These read the vectors `kgtag publish` writes: empty until a run is published.
NEEDS_PUBLISHED = ("similar_videos", "live_tags", "tag_neighbours")
DEFAULT_PARAMS = {"video": "v0001", "tag": "Cats", "relation": None, "run": None, "a": "RUN_A", "b": "RUN_B",
                  "min_conf": 0.0, "max_conf": 1.0, "limit": 25, "live_relation": "has_subject", "k": 10,
                  "overfetch": 10}
GUIDE_FILE = "kgtag.html"


def split_query(name: str) -> tuple[str, str]:
    """(description from the leading // comment lines, query text without them)."""
    lines = cypher(name).strip().splitlines()
    doc = []
    while lines and lines[0].startswith("//"):
        line = lines.pop(0)[2:].strip()
        if not line.startswith(":params") and not line.startswith("Parameters:"):
            doc.append(line)
    return " ".join(doc), "\n".join(lines).strip()


def params_command(params: dict) -> str:
    body = ", ".join(f"{k}: {json.dumps(v)}" for k, v in params.items())
    return f":params {{{body}}}"


def guide_html(params: dict | None = None) -> str:
    """The guide as Browser-guide HTML: one <slide> per query, runnable blocks."""
    params = {**DEFAULT_PARAMS, **(params or {})}
    slides = [f"""<slide>
<h3>kgtag: inferred video tags</h3>
<p>Queries over the tags kgtag inferred with TransFusion. Click a grey block to put it in the editor,
then run it (Ctrl+Enter). Start with the parameters: change the ids to the video, tag and runs you
want (<code>kgtag status</code> lists the runs).</p>
<pre class="code runnable">{html.escape(params_command(params))}</pre>
<p>Queries in this guide:</p>
<ol>{''.join(f'<li>{html.escape(title)}</li>' for _, title in QUERIES)}</ol>
</slide>"""]
    for name, title in QUERIES:
        doc, query = split_query(name)
        slides.append(f"""<slide>
<h3>{html.escape(title)}</h3>
<p>{html.escape(doc)}</p>
<pre class="code runnable">{html.escape(query)}</pre>
<p>File: <code>cypher/{name}.cypher</code></p>
</slide>""")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>kgtag: inferred video tags</title></head>\n"
            "<body><article class=\"guide\">\n" + "\n".join(slides) + "\n</article></body></html>\n")


def shipped_guide() -> str:
    """The static copy shipped in cypher/browser/ (generated with the default parameters)."""
    return resources.files("kgtag.cypher").joinpath("browser", GUIDE_FILE).read_text(encoding="utf-8")


def graph_params(store) -> dict:
    """Ids from the graph for the guide's parameters: a video with inferred tags, its best tag, the two latest runs."""
    ids = guide_ids(store)
    return {k: v for k, v in (asdict(ids) if ids else {}).items() if v is not None}


def browser_link(browser_url: str, guide_url: str) -> str:
    return f"{browser_url.rstrip('/')}/?cmd=guide&arg={quote(guide_url, safe='')}"


def edit_link(browser_url: str, query: str) -> str:
    """A Browser address that opens with `query` in the editor."""
    return f"{browser_url.rstrip('/')}/?cmd=edit&arg={quote(query, safe='')}"


LOOPBACK = ("localhost", "127.0.0.1", "[::1]")


def browser_origins(browser_url: str) -> set[str]:
    """The origins Neo4j Browser at `browser_url` sends requests from (a loopback host in any spelling)."""
    parts = urlsplit(browser_url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    hosts = LOOPBACK if host in ("localhost", "127.0.0.1", "::1") else (f"[{host}]" if ":" in host else host,)
    return {f"{parts.scheme}://{h}{port}" for h in hosts}


def serve(page: str, port: int, browser_url: str = "http://localhost:7474/browser/") -> ThreadingHTTPServer:
    body = page.encode("utf-8")
    allowed = browser_origins(browser_url)

    class Handler(BaseHTTPRequestHandler):
        def cors(self) -> None:
            """Browser fetches guides cross-origin: let its origin (only) read the answer."""
            origin = self.headers.get("Origin")
            self.send_header("Vary", "Origin")
            if origin in allowed:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Private-Network", "true")  # a remote Browser, local guide

        def host_ok(self) -> bool:
            """Loopback names only in the Host header: a DNS-rebinding page (Host: attacker.example) that
            reaches this port gets a 400, never the guide and its ids."""
            host = urlsplit("//" + (self.headers.get("Host") or "")).hostname or ""
            if host in ("localhost", "127.0.0.1", "::1"):
                return True
            self.send_error(400, "host not served here")
            return False

        def do_GET(self):  # noqa: N802 (http.server's name)
            if not self.host_ok():
                return
            if self.path.split("?")[0] not in ("/", f"/{GUIDE_FILE}"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.cors()
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_OPTIONS(self):  # noqa: N802  the CORS preflight: Browser sends no-cache headers
            if not self.host_ok():
                return
            self.send_response(204)
            self.cors()
            self.send_header("Access-Control-Allow-Methods", "GET, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", self.headers.get("Access-Control-Request-Headers", "*"))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


@click.command()
@click.option("--port", default=8765, show_default=True, help="Port for the guide (on 127.0.0.1).")
@click.option("--browser", "browser_url", envvar="NEO4J_BROWSER_URL", default="http://localhost:7474/browser/",
              show_default=True, help="Your Neo4j Browser address (only its origin may read the guide).")
@click.option("--write", "write_to", type=click.Path(dir_okay=False), help="Write the guide HTML to a file and exit.")
@connection_options
def guide(port, browser_url, write_to, conn):
    """Open the analysts' queries in Neo4j Browser: serves a Browser guide and prints the link.

    \b
    Example:
      kgtag guide            # then open the printed link; Ctrl+C stops serving
    In Browser you can also type:  :guide http://localhost:8765/kgtag.html
    """
    try:
        with conn.open(schema=False) as store:
            params = graph_params(store)
    except Exception as exc:  # the guide works without Neo4j, with placeholder ids
        info(f"(could not read ids from Neo4j: {exc}; the guide uses placeholder ids)")
        params = {}
    page = guide_html(params)
    if write_to:
        with open(write_to, "w", encoding="utf-8") as fh:
            fh.write(page)
        info(f"guide written to {write_to}")
        return
    server = serve(page, port, browser_url)
    guide_url = f"http://localhost:{port}/{GUIDE_FILE}"
    click.echo("Open in Neo4j Browser (one click):")
    click.echo(f"  {browser_link(browser_url, guide_url)}")
    click.echo(f"or type in Browser:  :guide {guide_url}")
    info("serving the guide; Ctrl+C stops")
    serve_until_interrupted(server)
