#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for the backup tests (stdlib only, loopback).

    fault_proxy.py LISTEN_PORT UPSTREAM_PORT

Forwards every request unchanged (Host header included, so signatures stay
valid) to 127.0.0.1:UPSTREAM_PORT, except when a fault is armed:

    GET /__fault?mode=500|reset|slow|pass&part=N&times=K&delay=S

arms a fault on UploadPart number N (part=0: on every request with a body)
for the next K matching requests (times=0: for ever).  500 answers an S3
InternalError; reset reads half of the body and then resets the
connection; slow waits S seconds before forwarding.

It also keeps the ledger of multipart uploads it saw: created by
CreateMultipartUpload, closed by a successful Complete or Abort.
GET /__uploads answers "created=<ids> open=<ids>" (comma-separated).
"""
import http.client
import http.server
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse

LISTEN, UPSTREAM = int(sys.argv[1]), int(sys.argv[2])
lock = threading.Lock()
fault = {"mode": "pass", "part": 0, "times": 0, "delay": 0.0}
created, closed = [], set()


def take_fault(query, has_body):
    """The armed mode when this request matches it, else 'pass'."""
    with lock:
        if fault["mode"] == "pass" or not has_body:
            return "pass", 0
        part = query.get("partNumber", [None])[0]
        if fault["part"] and part != str(fault["part"]):
            return "pass", 0
        if fault["times"] > 0:
            fault["times"] -= 1
            mode = fault["mode"]
            if fault["times"] == 0:
                fault["mode"] = "pass"
            return mode, fault["delay"]
        return fault["mode"], fault["delay"]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def control(self, url):
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/__fault":
            with lock:
                fault["mode"] = q.get("mode", ["pass"])[0]
                fault["part"] = int(q.get("part", ["0"])[0])
                fault["times"] = int(q.get("times", ["0"])[0])
                fault["delay"] = float(q.get("delay", ["0"])[0])
            self.reply(200, b"armed\n")
        else:
            with lock:
                open_ = [u for u in created if u not in closed]
                body = "created=%s open=%s\n" % (",".join(created), ",".join(open_))
            self.reply(200, body.encode())

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/__"):
            return self.control(url)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        mode, delay = take_fault(query, length > 0)
        if mode == "reset":
            self.rfile.read(length // 2)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        if mode == "500":
            err = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
                   b"<Message>injected by fault_proxy</Message></Error>")
            return self.reply(500, err, "application/xml")
        if mode == "slow":
            time.sleep(delay)
        up = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        up.request(self.command, self.path, body=body if length else None, headers=headers)
        resp = up.getresponse()
        data = resp.read()
        self.ledger(query, resp.status, data)
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "keep-alive"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        up.close()

    def ledger(self, query, status, data):
        with lock:
            if self.command == "POST" and "uploads" in query and status == 200:
                m = re.search(rb"<UploadId>([^<]+)</UploadId>", data)
                if m:
                    created.append(m.group(1).decode())
            elif "uploadId" in query and status in (200, 204) and b"<Error>" not in data:
                if self.command == "POST" or self.command == "DELETE":
                    closed.add(query["uploadId"][0])

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Handler)
server.daemon_threads = True
print("fault_proxy listening on 127.0.0.1:%d -> %d" % (LISTEN, UPSTREAM), flush=True)
server.serve_forever()
