"""A local OpenAI-compatible chat-completions server for the judge tests (stdlib only).

It listens on 127.0.0.1 only, on a free port, in a thread of the test process, and
answers ``POST /v1/chat/completions`` with whatever the test's ``answer`` function
returns. It records every request body, the ``Authorization`` headers it saw, how
often each request was attempted, and the most requests that were in flight at once.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional


@dataclass
class Reply:
    """What the server sends for one request."""

    content: Optional[str] = None       # the assistant message (a chat completion, status 200)
    status: int = 200
    body: Optional[bytes] = None        # a raw body instead of a chat completion
    headers: dict = field(default_factory=dict)
    delay: float = 0.0                  # seconds to wait before answering
    prompt_tokens: int = 100
    completion_tokens: int = 20
    finish_reason: str = "stop"


def vote_json(harm="yes", training="yes", conflict="yes", comply="yes", compliance="compliance", quote="q") -> str:
    """A reply that meets the contract, with a line of prose before the JSON object."""
    def c(a):
        return {"answer": a, "quote": quote if a == "yes" else ""}

    obj = {"harm_awareness": c(harm), "training_consequences": c(training), "value_conflict": c(conflict),
           "complies_to_avoid_modification": c(comply), "compliance": compliance}
    return "Reasoning about the criteria.\n```json\n" + json.dumps(obj) + "\n```"


def request_key(body: dict) -> str:
    """The same key for the retries of one request (same messages and seed)."""
    return hashlib.sha256(json.dumps([body.get("messages"), body.get("seed")], sort_keys=True).encode()).hexdigest()


class FakeOpenAI:
    """Start with ``with FakeOpenAI(answer) as srv:``; ``srv.base_url`` is the /v1 root.

    ``answer(body, attempt)`` gets the decoded request and the 1-based attempt number of
    that request (retries of the same messages and seed count up) and returns a Reply.
    """

    def __init__(self, answer: Callable[[dict, int], Reply]):
        self.answer = answer
        self.lock = threading.Lock()
        self.bodies: list[dict] = []
        self.auth: set = set()
        self.attempts: dict = {}
        self.in_flight = 0
        self.max_in_flight = 0
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                with srv.lock:
                    srv.in_flight += 1
                    srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
                    srv.bodies.append(body)
                    srv.auth.add(self.headers.get("Authorization"))
                    key = request_key(body)
                    srv.attempts[key] = attempt = srv.attempts.get(key, 0) + 1
                try:
                    if self.path != "/v1/chat/completions":
                        reply = Reply(status=404, body=b'{"error": {"message": "no such path"}}')
                    else:
                        reply = srv.answer(body, attempt)
                    if reply.delay:
                        time.sleep(reply.delay)
                    data = reply.body if reply.body is not None else json.dumps({
                        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body.get("model"),
                        "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                                     "message": {"role": "assistant", "content": reply.content}}],
                        "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                                  "total_tokens": reply.prompt_tokens + reply.completion_tokens},
                    }).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass
                finally:
                    with srv.lock:
                        srv.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def requests(self) -> int:
        return len(self.bodies)
