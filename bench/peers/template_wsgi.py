"""The Jinja2 twin of sample-apps/template, served by Granian in bench/template.sh.

The same templates (sample-apps/template/templates), the same data and the same answer byte for
byte: GET /?username=Codi&item=uno&item=dos renders index.html. The environment is built once,
at import, as the NSGI app loads its templates once in init.
"""

import os
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sample-apps", "template", "templates")
ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
INDEX = ENV.get_template("index.html")
STEPS = [
    "Hola mundo in plain text",
    "An HTML page",
    "Templates filled from the query string",
    "A form that posts back",
]


def app(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    username = (query.get("username") or [""])[0] or "mundo"
    page = INDEX.render(title="NSGI tutorial", username=username, items=query.get("item", []), steps=STEPS)
    body = page.encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
