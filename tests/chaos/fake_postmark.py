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
kill after the ESP took the message and before its answer was read)."""

from __future__ import annotations

import json
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
    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.accepted: Counter[str] = Counter()
        self.received: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        # Scripted answers for the next requests: ("status", code), ("hang", seconds)
        # or ("ok", 0) for a normal answer between bursts.
        self.script: deque[tuple[str, float]] = deque()
        self.reject: dict[str, int] = {}  # address -> Postmark ErrorCode (300 / 406)
        self.latency = 0.0
        self.in_transit = 0
        self.last_request_at = time.monotonic()
        handler = type("Handler", (_Handler,), {"esp": self})
        self.server = _QuietServer(("127.0.0.1", 0), handler)
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

    def reset(self) -> None:
        with self.lock:
            self.accepted.clear()
            self.received.clear()
            self.refused.clear()
            self.script.clear()
            self.reject.clear()
            self.latency = 0.0

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

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
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
            esp.last_request_at = time.monotonic()
            for address in addresses:
                esp.received[address] += 1
            action = esp.script.popleft() if esp.script else None
            esp.in_transit += 1
            esp.lock.notify_all()
            latency = esp.latency
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
            esp.lock.notify_all()
        return 200, {
            "To": message["To"],
            "SubmittedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "MessageID": str(uuid.uuid4()),
            "ErrorCode": 0,
            "Message": "OK",
        }
