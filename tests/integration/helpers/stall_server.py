#!/usr/bin/env python3
"""stall_server.py - a static file server on 127.0.0.1 that stalls on purpose,
for the registry client's timeout tests (t5060).

usage: stall_server.py ROOT PORTFILE LOGFILE STALL_PATH STALLS

Serves ROOT (GET and HEAD, with single "bytes=N-" Range requests answered
206). The first STALLS GET requests for STALL_PATH send the headers and the
first 64 KiB of the body, then go silent (the connection stays open for a
minute). Each request is logged as "METHOD PATH STATUS RANGE" to LOGFILE.
Writes the port it listens on to PORTFILE.
"""
import http.server
import os
import sys
import threading
import time

root, portfile, logfile, stall_path, stalls = sys.argv[1:6]
left = [int(stalls)]
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def log(self, status):
        with lock, open(logfile, "a") as f:
            f.write("%s %s %d %s\n" % (self.command, self.path, status,
                                       self.headers.get("Range", "-")))

    def do_HEAD(self):
        self.serve(False)

    def do_GET(self):
        self.serve(True)

    def serve(self, body):
        path = os.path.join(root, self.path.split("?")[0].lstrip("/"))
        if not os.path.isfile(path):
            self.log(404)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = open(path, "rb").read()
        start, status = 0, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                self.log(416)
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        stall = False
        if body and self.path == stall_path:
            with lock:
                if left[0] > 0:
                    left[0] -= 1
                    stall = True
        self.log(status)
        self.send_response(status)
        self.send_header("Content-Length", str(len(data) - start))
        if status == 206:
            self.send_header("Content-Range",
                             "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if not body:
            return
        if stall:
            self.wfile.write(data[start:start + 65536])
            self.wfile.flush()
            time.sleep(60)
            return
        self.wfile.write(data[start:])


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
