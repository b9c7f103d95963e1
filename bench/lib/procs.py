"""bench/lib/procs.py: what the Python benchmarks share to start and stop servers.

A free port, a server started in a session of its own (so that stopping it stops its whole
tree), its stop, the C hello app compiled, and the nginx configuration that answers
"Hello, World!" as the app does. Standard library only. Imported by idle_conns.py, segments.py
and crash_recovery.py (which put bench/lib on sys.path).
"""

import os
import signal
import socket
import subprocess
import time

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(BENCH_DIR)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(cmd, logfile):
    """Starts `cmd` in a session of its own, its output into `logfile`."""
    with open(logfile, "wb") as out:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(proc, grace=10):
    """SIGTERM to the server's process group, SIGKILL to what is left after `grace` seconds;
    returns the seconds it took."""
    began = time.time()
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group, if any
    except OSError:
        pass
    proc.wait()
    return round(time.time() - began, 2)


def compile_bench_app(work):
    """bench/apps/bench_app.c compiled into `work`, as run.sh compiles it; returns its path."""
    app = os.path.join(work, "bench_app.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
                    "-fvisibility=hidden", "-I", os.path.join(ROOT, "abi", "include"),
                    os.path.join(BENCH_DIR, "apps", "bench_app.c"), "-o", app], check=True)
    return app


def nginx_hello_config(work, port, worker_connections=1024, main_extra="", http_extra=""):
    """An nginx configuration in `work`/nginx answering "Hello, World!" on 127.0.0.1:`port` with
    one worker; returns (its directory, its file)."""
    conf_dir = os.path.join(work, "nginx")
    os.makedirs(os.path.join(conf_dir, "tmp"))
    os.chmod(conf_dir, 0o755)  # started as root, nginx's worker runs as another user
    conf = os.path.join(conf_dir, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""worker_processes 1;
%(main_extra)s
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log warn;
events { worker_connections %(conns)d; }
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
%(http_extra)s
    client_body_temp_path %(dir)s/tmp/body;
    proxy_temp_path %(dir)s/tmp/proxy;
    fastcgi_temp_path %(dir)s/tmp/fastcgi;
    uwsgi_temp_path %(dir)s/tmp/uwsgi;
    scgi_temp_path %(dir)s/tmp/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        location / { return 200 "Hello, World!"; }
    }
}
""" % {"dir": conf_dir, "port": port, "conns": worker_connections, "main_extra": main_extra,
       "http_extra": http_extra})
    return conf_dir, conf


def nginx_command(nginx, conf_dir, conf):
    """The command that runs nginx in the foreground with `conf`."""
    return [nginx, "-p", conf_dir, "-e", os.path.join(conf_dir, "error.log"), "-c", conf, "-g", "daemon off;"]
