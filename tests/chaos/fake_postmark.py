"""A local HTTP server that speaks Postmark's send API (POST /email, /email/batch),
so anymail's real `anymail.backends.postmark.EmailBackend` and its requests path
run against it, and that can be told to fail.

Responses follow Postmark's documentation: 200 with
{"To", "SubmittedAt", "MessageID", "ErrorCode": 0, "Message": "OK"}; 422 with
ErrorCode 300 ("Invalid 'To' address") or 406 (inactive recipient) for addresses
refused for good; 401 (ErrorCode 10) without the server token; and whatever
status a test scripts (429, 503, a hang past the client's timeout).

What it counts: `accepted[address]` is how many messages the ESP took for that
address, the number a reader would find in their inbox. A message is accepted
after the scripted latency, and only if the client is still connected then: a
worker killed while its request is still in transit has not handed the message
over (delivery.py's rule 3 re-sends that one; the residual risk it documents is a
kill after the ESP took the message and before its answer was read).

It must not distort what it measures: each answer goes out in ONE write on a socket
with TCP_NODELAY (headers and body written apart, without it, waited ~40 ms for
the client's delayed ACK on every keep-alive call), every connection has its own
thread and the listen backlog takes hundreds of concurrent connections. Latency
has a tail (`tail_share` of the calls take `tail_factor` times `latency`), drawn
from a seeded generator so a run can be replayed; `limit_per_second` answers 429
beyond that many calls in a wall-clock second, as an ESP enforcing a rate, and
`storm(seconds)` answers 429 to everything for a while. `per_second` counts the
calls received in each wall-clock second (`max_per_second()`).

    python -m tests.chaos.fake_postmark --port 8025 --latency-ms 100

serves it on its own (Ctrl-C stops it)."""

from __future__ import annotations

import argparse
import json
import random
import select
import socket
import threading
import time
import uuid
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVER_TOKEN = "chaos-server-token"
# Postmark's wording, which anymail parses to find the refused addresses.
INACTIVE_MESSAGE = (
    "You tried to send to a recipient that has been marked as inactive.\n"
    "Found inactive addresses: {address}.\n"
    "Inactive recipients are ones that have generated a hard bounce or a spam complaint. "
)
INVALID_MESSAGE = "Invalid 'To' address: '{address}'."


class FakePostmark:
    def __init__(self, *, port: int = 0) -> None:
        self.lock = threading.Condition()
        self.accepted: Counter[str] = Counter()
        # When each address's first message was taken (time.monotonic()).
        self.first_accepted: dict[str, float] = {}
        self.received: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        # Scripted answers for the next requests: ("status", code), ("hang", seconds)
        # or ("ok", 0) for a normal answer between bursts.
        self.script: deque[tuple[str, float]] = deque()
        self.reject: dict[str, int] = {}  # address -> Postmark ErrorCode (300 / 406)
        self.latency = 0.0
        # 1 % of calls 5x slower by default: what an ESP's p99 looks like.
        self.tail_share = 0.01
        self.tail_factor = 5.0
        self.random = random.Random(0)
        self.limit_per_second: int | None = None
        self.storm_until = 0.0
        self.per_second: Counter[int] = Counter()
        self.throttled = 0
        self.in_transit = 0
        self.max_in_transit = 0
        self.last_request_at = time.monotonic()
        handler = type("Handler", (_Handler,), {"esp": self})
        self.server = _QuietServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def start(self) -> FakePostmark:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self, *, seed: int = 0) -> None:
        with self.lock:
            self.accepted.clear()
            self.first_accepted.clear()
            self.received.clear()
            self.refused.clear()
            self.script.clear()
            self.reject.clear()
            self.per_second.clear()
            self.latency = 0.0
            self.tail_share, self.tail_factor = 0.01, 5.0
            self.random.seed(seed)
            self.limit_per_second = None
            self.storm_until = 0.0
            self.throttled = 0
            self.max_in_transit = 0

    def storm(self, seconds: float) -> None:
        """Answer 429 to every call for the next `seconds`."""
        with self.lock:
            self.storm_until = time.monotonic() + seconds

    def max_per_second(self) -> int:
        with self.lock:
            return max(self.per_second.values(), default=0)

    def fail_next(self, *answers: tuple[str, float]) -> None:
        with self.lock:
            self.script.extend(answers)

    def total_accepted(self) -> int:
        with self.lock:
            return sum(self.accepted.values())

    def wait_for(self, condition, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not condition(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.lock.wait(min(remaining, 0.2))
        return True

    def quiet_for(self) -> float:
        with self.lock:
            return time.monotonic() - self.last_request_at


class _QuietServer(ThreadingHTTPServer):
    # Connections waiting to be accepted: a benchmark opens one per sending thread
    # of every worker at once (socketserver's default is 5).
    request_queue_size = 1024

    def handle_error(self, request, client_address) -> None:
        """A killed worker resets its connection: expected here, not worth a traceback."""


def _client_gone(sock: socket.socket) -> bool:
    """True when the peer closed the connection (a killed worker)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Handler(BaseHTTPRequestHandler):
    esp: FakePostmark
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on every connection

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, body) -> None:
        """Status line, headers and body in one write (see the module docstring)."""
        data = json.dumps(body).encode()
        head = (
            f"{self.protocol_version} {status} {self.responses.get(status, ('',))[0]}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        try:
            self.wfile.write(head.encode("latin-1") + data)
        except OSError:
            pass

    def do_POST(self) -> None:
        esp = self.esp
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") not in ("/email", "/email/batch"):
            return self._answer(404, {"ErrorCode": 404, "Message": "Not found"})
        if self.headers.get("X-Postmark-Server-Token") != SERVER_TOKEN:
            return self._answer(401, {"ErrorCode": 10, "Message": "Bad or missing Server API token"})
        payload = json.loads(body)
        messages = payload if isinstance(payload, list) else [payload]
        addresses = [m["To"].rsplit("<", 1)[-1].rstrip(">").strip().lower() for m in messages]
        with esp.lock:
            now = time.monotonic()
            esp.last_request_at = now
            for address in addresses:
                esp.received[address] += 1
            second = int(time.time())
            esp.per_second[second] += 1
            action = esp.script.popleft() if esp.script else None
            over_limit = esp.limit_per_second is not None and esp.per_second[second] > esp.limit_per_second
            if action is None and (now < esp.storm_until or over_limit):
                action = ("status", 429)
            if action and action[0] == "status" and int(action[1]) == 429:
                esp.throttled += 1
            esp.in_transit += 1
            esp.max_in_transit = max(esp.max_in_transit, esp.in_transit)
            esp.lock.notify_all()
            latency = esp.latency
            if esp.random.random() < esp.tail_share:
                latency *= esp.tail_factor
        try:
            if action and action[0] == "hang":
                time.sleep(action[1])
                return self._answer(504, {"ErrorCode": 0, "Message": "Gateway timeout"})
            if action and action[0] == "status":
                code = int(action[1])
                return self._answer(code, {"ErrorCode": 0, "Message": f"Scripted {code}"})
            time.sleep(latency)
        finally:
            # `in_transit` counts requests not yet decided: a kill while it is > 0
            # lands before the ESP took the message.
            with esp.lock:
                esp.in_transit -= 1
                esp.last_request_at = time.monotonic()
                esp.lock.notify_all()
        if _client_gone(self.connection):
            return None
        answers = [self._accept(address, message) for address, message in zip(addresses, messages)]
        if isinstance(payload, list):
            return self._answer(200, [a for _, a in answers])
        status, answer = answers[0]
        return self._answer(status, answer)

    def _accept(self, address: str, message: dict) -> tuple[int, dict]:
        esp = self.esp
        with esp.lock:
            code = esp.reject.get(address)
            if code is not None:
                esp.refused[address] += 1
                template = INACTIVE_MESSAGE if code == 406 else INVALID_MESSAGE
                return 422, {"ErrorCode": code, "Message": template.format(address=address)}
            esp.accepted[address] += 1
            esp.first_accepted.setdefault(address, time.monotonic())
            esp.lock.notify_all()
        return 200, {
            "To": message["To"],
            "SubmittedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "MessageID": str(uuid.uuid4()),
            "ErrorCode": 0,
            "Message": "OK",
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake Postmark on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    esp = FakePostmark(port=args.port)
    esp.latency = args.latency_ms / 1000
    print(f"fake Postmark at {esp.url} (token {SERVER_TOKEN!r})", flush=True)
    try:
        esp.server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
