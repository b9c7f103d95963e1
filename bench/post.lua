-- wrk script for the post1m scenario: every request is a POST of 1 MiB, which the server echoes.
wrk.method = "POST"
wrk.body = string.rep("x", 1024 * 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
