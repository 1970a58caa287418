"""A stand-in for the Telegram Bot API on loopback, for the notifier test.

POST /bot<token>/sendMessage and /sendPhoto with a JSON body.  The first
FAIL_500 requests get 500, the next FAIL_429 get Telegram's 429 answer
({"ok": false, "error_code": 429, "parameters": {"retry_after": 1}});
after that every request is accepted and appended, one JSON object a line
({"method", "chat_id", "text" or "caption", "photo"}), to the log file.
A refused request is not logged: it did not reach the chat.
usage: telegram_standin.py PORT LOGFILE FAIL_500 FAIL_429
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, log_path, fail_500, fail_429 = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lock = threading.Lock()
seen = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        method = self.path.rsplit("/", 1)[-1]
        with lock:
            seen += 1
            n = seen
            if n <= fail_500:
                return self.answer(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
            if n <= fail_500 + fail_429:
                return self.answer(429, {"ok": False, "error_code": 429,
                                         "description": "Too Many Requests: retry after 1",
                                         "parameters": {"retry_after": 1}})
            msg = json.loads(body)
            msg["method"] = method
            with open(log_path, "a") as f:
                f.write(json.dumps(msg, sort_keys=True) + "\n")
        self.answer(200, {"ok": True, "result": {"message_id": n}})

    def answer(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
