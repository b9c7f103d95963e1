"""The WSGI twin of bench/apps/bench_app.c, served by Granian and gunicorn in bench/run.sh.

    GET  /      200, text/plain, "Hello, World!" (13 bytes)
    GET  /64k   200, text/plain, 65536 bytes of 'x'
    POST (any)  200, application/octet-stream, the request body echoed byte for byte
"""

HELLO = b"Hello, World!"
BIG = b"x" * 65536
HELLO_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))]
BIG_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BIG)))]


def app(environ, start_response):
    if environ["REQUEST_METHOD"] in ("POST", "PUT"):
        length = environ.get("CONTENT_LENGTH")
        stream = environ["wsgi.input"]
        body = stream.read(int(length)) if length else stream.read()
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))],
        )
        return [body]
    if environ.get("PATH_INFO") == "/64k":
        start_response("200 OK", BIG_HEADERS)
        return [BIG]
    start_response("200 OK", HELLO_HEADERS)
    return [HELLO]
