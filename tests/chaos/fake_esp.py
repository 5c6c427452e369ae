"""A local HTTP server that speaks an ESP's send API, so anymail's real backend for
that ESP and its requests path run against it, and that can be told to fail.
Postmark by default (POST /email, /email/batch); Mailgun, Brevo and SendGrid too
(`FakeEsp(api=API["mailgun"])`): what differs between them is their `EspApi`, the
request read and the answers written in that ESP's own shapes, from anymail 15's
backends and their tests (anymail/backends/<esp>.py, tests/test_<esp>_backend.py):

- Postmark: 200 with {"To", "SubmittedAt", "MessageID", "ErrorCode": 0, "Message":
  "OK"}; 422 with ErrorCode 300 ("Invalid 'To' address") or 406 (inactive
  recipient) for an address refused for good; 401 (ErrorCode 10) without the token.
- Mailgun (POST /v3/<domain>/messages, a form): 200 {"id": "<…@domain>", "message":
  "Queued. Thank you."}; 400 {"message": "'to' parameter is not a valid address…"}.
- Brevo (POST /v3/smtp/email): 201 {"messageId": "<…@smtp-relay.mailin.fr>"}; 400
  {"code": "invalid_parameter", "message": "email is not valid in to"}; 400 too for
  an attachment whose extension is not on Brevo's list (BREVO_EXTENSIONS: no .json).
- SendGrid (POST /v3/mail/send): 202 with no body (anymail makes the message id and
  sends it as the custom arg anymail_id); 400 {"errors": [{"message": "Does not
  contain a valid address.", "field": "personalizations.0.to.0.email"}]}.

Every ESP also answers whatever status a test scripts (429, 503, a hang past the
client's timeout), in its own error shape. `sent` keeps each message the ESP took as
the ESP read it (`Sent`: its parts, headers, metadata and tags, and the id it
answered), and `EspApi.echo` says what of it that ESP's tracking webhook posts back
(tests/newsletter/test_webhooks_esps.py has the rest of each event).

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

    python -m tests.chaos.fake_esp --port 8025 --latency-ms 100 [--api mailgun]

serves it on its own (Ctrl-C stops it)."""

from __future__ import annotations

import argparse
import base64
import json
import random
import select
import socket
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

SERVER_TOKEN = "chaos-server-token"
# Each ESP's API key in the tests: the one the fake checks.
API_KEY = "fake-esp-api-key"
# Postmark's wording, which anymail parses to find the refused addresses.
INACTIVE_MESSAGE = (
    "You tried to send to a recipient that has been marked as inactive.\n"
    "Found inactive addresses: {address}.\n"
    "Inactive recipients are ones that have generated a hard bounce or a spam complaint. "
)
INVALID_MESSAGE = "Invalid 'To' address: '{address}'."
# Brevo's attachment extensions (developers.brevo.com, sendtransacemail, "attachment").
BREVO_EXTENSIONS = frozenset((
    "xlsx", "xls", "ods", "docx", "docm", "doc", "csv", "pdf", "txt", "gif", "jpg", "jpeg", "png", "tif", "tiff",
    "rtf", "bmp", "cgm", "css", "shtml", "html", "htm", "zip", "xml", "ppt", "pptx", "tar", "ez", "ics", "mobi",
    "msg", "pub", "eps", "odt", "mp3", "m4a", "m4v", "wma", "ogg", "flac", "wav", "aif", "aifc", "aiff", "mp4",
    "mov", "avi", "mkv", "mpeg", "mpg", "wmv", "pkpass", "xlsm",
))


@dataclass
class Sent:
    """One message as the ESP read it."""

    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]  # header names as sent (each ESP keeps the caller's case, or title-cases)
    metadata: dict[str, str]
    tags: list[str]
    attachments: dict[str, bytes] = field(default_factory=dict)  # file name -> content
    message_id: str = ""  # the id the ESP answered with
    raw: dict = field(default_factory=dict)  # the ESP's own fields, for `EspApi.echo`

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def _address(value: str) -> str:
    return value.rsplit("<", 1)[-1].rstrip(">").strip().lower()


class EspApi:
    """One ESP's send API: what it reads from a request and what it answers."""

    name = "Postmark"
    backend = "postmark"  # anymail.backends.<backend>.EmailBackend, /anymail/<backend>/tracking/
    paths = ("/email", "/email/batch")  # where it takes messages
    credentials = ("X-Postmark-Server-Token", SERVER_TOKEN)  # the header anymail sends, its value

    def settings(self, url: str) -> dict:
        """The ANYMAIL settings that point anymail's backend for this ESP at `url`."""
        return {"POSTMARK_SERVER_TOKEN": SERVER_TOKEN, "POSTMARK_API_URL": url}

    def routed(self, path: str) -> bool:
        return path.rstrip("/") in self.paths

    def authorised(self, headers) -> bool:
        name, value = self.credentials
        return headers.get(name) == value

    def unauthorised(self) -> object:
        return {"ErrorCode": 10, "Message": "Bad or missing Server API token"}

    def error(self, status: int, text: str) -> object:
        return {"ErrorCode": 0, "Message": text}

    def read(self, headers, body: bytes) -> tuple[list[Sent], bool]:
        """The messages of a request, and whether it was a batch."""
        payload = json.loads(body)
        messages = payload if isinstance(payload, list) else [payload]
        return [Sent(
            to=_address(m["To"]), subject=m.get("Subject", ""), text=m.get("TextBody", ""),
            html=m.get("HtmlBody", ""), headers={h["Name"]: h["Value"] for h in m.get("Headers", [])},
            metadata=m.get("Metadata", {}), tags=[m["Tag"]] if m.get("Tag") else [], raw=m,
            attachments={a["Name"]: base64.b64decode(a["Content"]) for a in m.get("Attachments", [])},
        ) for m in messages], isinstance(payload, list)

    def refusal(self, sent: Sent) -> tuple[int, object] | None:
        """The ESP's own refusal of the message whatever its address, if any."""
        return None

    def accepted(self, sent: Sent) -> tuple[int, object]:
        sent.message_id = str(uuid.uuid4())
        return 200, {"To": sent.raw["To"], "SubmittedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "MessageID": sent.message_id, "ErrorCode": 0, "Message": "OK"}

    def refused(self, address: str, code: int) -> tuple[int, object]:
        """`code`: Postmark's ErrorCode, 300 (invalid) or 406 (inactive)."""
        template = INACTIVE_MESSAGE if code == 406 else INVALID_MESSAGE
        return 422, {"ErrorCode": code, "Message": template.format(address=address)}

    def echo(self, sent: Sent, *, metadata: bool = True) -> dict:
        """What of the message the ESP's tracking events carry back (the fields
        anymail's webhook reads our metadata and the message id from), in the ESP's
        own shape; without `metadata`, as an event that lost it."""
        return {"MessageID": sent.message_id, "Metadata": sent.metadata if metadata else {}}


class MailgunApi(EspApi):
    name = "Mailgun"
    backend = "mailgun"
    domain = "mg.example.com"
    paths = (f"/v3/{domain}/messages",)
    credentials = ("Authorization", "Basic " + base64.b64encode(f"api:{API_KEY}".encode()).decode())

    def settings(self, url: str) -> dict:
        return {"MAILGUN_API_KEY": API_KEY, "MAILGUN_SENDER_DOMAIN": self.domain, "MAILGUN_API_URL": f"{url}v3"}

    def unauthorised(self) -> object:
        return "Forbidden"

    def error(self, status: int, text: str) -> object:
        return {"message": text}

    def read(self, headers, body: bytes) -> tuple[list[Sent], bool]:
        kind = headers.get("Content-Type", "")
        if kind.startswith("multipart/form-data"):
            form: dict[str, list[str]] = {}
            files: dict[str, bytes] = {}
            parsed = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {kind}\r\n\r\n".encode() + body)
            for part in parsed.iter_parts():
                if part.get_filename():  # anymail's "attachment" files
                    files[part.get_filename()] = part.get_payload(decode=True)
                else:
                    form.setdefault(part.get_param("name", header="content-disposition"), []).append(
                        part.get_content())
        else:
            form, files = parse_qs(body.decode(), keep_blank_values=True), {}
        first = {name: values[0] for name, values in form.items()}
        return [Sent(
            to=_address(first["to"]), subject=first.get("subject", ""), text=first.get("text", ""),
            html=first.get("html", ""), headers={k[2:]: v for k, v in first.items() if k.startswith("h:")},
            metadata={k[2:]: v for k, v in first.items() if k.startswith("v:")}, tags=form.get("o:tag", []),
            raw=first, attachments=files,
        )], False

    def accepted(self, sent: Sent) -> tuple[int, object]:
        sent.message_id = f"<{time.strftime('%Y%m%d%H%M%S')}.{uuid.uuid4().hex[:16].upper()}@{self.domain}>"
        return 200, {"id": sent.message_id, "message": "Queued. Thank you."}

    def refused(self, address: str, code: int) -> tuple[int, object]:
        return 400, {"message": "'to' parameter is not a valid address. please check documentation"}

    def echo(self, sent: Sent, *, metadata: bool = True) -> dict:
        # Mailgun's event names the message by its Message-Id header, without brackets.
        return {"user-variables": sent.metadata if metadata else {}, "message": {"headers": {
            "to": sent.to, "message-id": sent.message_id.strip("<>")}}}


class BrevoApi(EspApi):
    name = "Brevo"
    backend = "brevo"
    paths = ("/v3/smtp/email",)
    credentials = ("api-key", API_KEY)

    def settings(self, url: str) -> dict:
        return {"BREVO_API_KEY": API_KEY, "BREVO_API_URL": f"{url}v3/"}

    def unauthorised(self) -> object:
        return {"code": "unauthorized", "message": "Key not found"}

    def error(self, status: int, text: str) -> object:
        return {"code": "too_many_requests" if status == 429 else "internal_error", "message": text}

    def read(self, headers, body: bytes) -> tuple[list[Sent], bool]:
        m = json.loads(body)
        extra = dict(m.get("headers", {}))
        return [Sent(
            to=m["to"][0]["email"].lower(), subject=m.get("subject", ""), text=m.get("textContent", ""),
            html=m.get("htmlContent", ""), headers=extra, metadata=json.loads(extra.get("X-Mailin-custom", "{}")),
            tags=m.get("tags", []), raw=m,
            attachments={a["name"]: base64.b64decode(a["content"]) for a in m.get("attachment", [])},
        )], False

    def refusal(self, sent: Sent) -> tuple[int, object] | None:
        # Brevo takes attachments of these extensions only (developers.brevo.com,
        # sendtransacemail, "attachment"); the answer's wording is not Brevo's verbatim.
        refused = [name for name in sent.attachments if name.rsplit(".", 1)[-1].lower() not in BREVO_EXTENSIONS]
        if refused:
            return 400, {"code": "invalid_parameter", "message": f"Unsupported file extension: {refused[0]}"}
        return None

    def accepted(self, sent: Sent) -> tuple[int, object]:
        sent.message_id = f"<{time.strftime('%Y%m%d%H%M%S')}.{uuid.uuid4().int % 10**12}@smtp-relay.mailin.fr>"
        return 201, {"messageId": sent.message_id}

    def refused(self, address: str, code: int) -> tuple[int, object]:
        return 400, {"code": "invalid_parameter", "message": "email is not valid in to"}

    def echo(self, sent: Sent, *, metadata: bool = True) -> dict:
        # Brevo posts the X-Mailin-custom header back as it was sent.
        custom = {"X-Mailin-custom": sent.header("X-Mailin-custom")} if metadata else {}
        return {"message-id": sent.message_id, **custom}


class SendGridApi(EspApi):
    name = "SendGrid"
    backend = "sendgrid"
    paths = ("/v3/mail/send",)
    credentials = ("Authorization", f"Bearer {API_KEY}")

    def settings(self, url: str) -> dict:
        return {"SENDGRID_API_KEY": API_KEY, "SENDGRID_API_URL": f"{url}v3/"}

    def unauthorised(self) -> object:
        return {"errors": [{"field": None, "message": "The provided authorization grant is invalid, expired, or revoked"}]}

    def error(self, status: int, text: str) -> object:
        return {"errors": [{"field": None, "message": text}]}

    def read(self, headers, body: bytes) -> tuple[list[Sent], bool]:
        m = json.loads(body)
        [personal] = m["personalizations"]
        parts = {c["type"]: c["value"] for c in m.get("content", [])}
        args = {**m.get("custom_args", {}), **personal.get("custom_args", {})}
        return [Sent(
            to=personal["to"][0]["email"].lower(), subject=m.get("subject", ""), text=parts.get("text/plain", ""),
            html=parts.get("text/html", ""), headers=dict(m.get("headers", {})),
            metadata={k: v for k, v in args.items() if k != "anymail_id"}, tags=m.get("categories", []),
            raw=args,
            attachments={a["filename"]: base64.b64decode(a["content"]) for a in m.get("attachments", [])},
        )], False

    def accepted(self, sent: Sent) -> tuple[int, object]:
        # SendGrid answers no id anymail uses: anymail's own is in the custom args.
        sent.message_id = sent.raw.get("anymail_id", "")
        return 202, None

    def refused(self, address: str, code: int) -> tuple[int, object]:
        return 400, {"errors": [{
            "message": "Does not contain a valid address.", "field": "personalizations.0.to.0.email",
            "help": "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to"}]}

    def echo(self, sent: Sent, *, metadata: bool = True) -> dict:
        # SendGrid's events carry every custom arg as a field of their own.
        return dict(sent.raw) if metadata else {"anymail_id": sent.raw.get("anymail_id")}


API = {"postmark": EspApi(), "mailgun": MailgunApi(), "brevo": BrevoApi(), "sendgrid": SendGridApi()}


class FakeEsp:
    def __init__(self, *, port: int = 0, api: EspApi = API["postmark"], keep_sent: bool = False) -> None:
        self.api = api
        # `sent` is kept only when asked: a benchmark's thousands of 30 KB digests
        # would fill the memory.
        self.keep_sent = keep_sent
        self.lock = threading.Condition()
        self.accepted: Counter[str] = Counter()
        # When each address's first message was taken (time.monotonic()).
        self.first_accepted: dict[str, float] = {}
        self.received: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.sent: list[Sent] = []  # every message taken, in order (with keep_sent)
        # Scripted answers for the next requests: ("status", code), ("hang", seconds)
        # or ("ok", 0) for a normal answer between bursts.
        self.script: deque[tuple] = deque()
        # Addresses refused for good -> Postmark's ErrorCode (300 / 406); the other
        # ESPs have one answer for an address they refuse (EspApi.refused).
        self.reject: dict[str, int] = {}
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
        self.connections: set[socket.socket] = set()  # open now (stop closes them)
        handler = type("Handler", (_Handler,), {"esp": self})
        self.server = _QuietServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def start(self) -> FakeEsp:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close the connections kept alive: a client still holding
        one (a sending thread's keep-alive connection) is refused, as by an ESP that
        is gone, instead of its handler thread going on taking messages unseen."""
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def reset(self, *, seed: int = 0) -> None:
        with self.lock:
            self.accepted.clear()
            self.first_accepted.clear()
            self.received.clear()
            self.refused.clear()
            self.sent.clear()
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

    def fail_next(self, *answers: tuple) -> None:
        """The next requests' answers, in order: ("status", 503), or ("status", 400,
        "the ESP's words") for an answer that says more than "Scripted 400"; ("hang",
        seconds) for one that comes too late."""
        with self.lock:
            self.script.extend(answers)

    def sent_to(self, address: str) -> list[Sent]:
        with self.lock:
            return [sent for sent in self.sent if sent.to == address.lower()]

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
    esp: FakeEsp
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on every connection

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        with self.esp.lock:
            self.esp.connections.add(self.connection)

    def finish(self) -> None:
        with self.esp.lock:
            self.esp.connections.discard(self.connection)
        super().finish()

    def _answer(self, status: int, body) -> None:
        """Status line, headers and body in one write (see the module docstring);
        `body` None: no body (SendGrid's 202), a str: text (Mailgun's 401)."""
        data = b"" if body is None else body.encode() if isinstance(body, str) else json.dumps(body).encode()
        kind = "text/plain" if isinstance(body, str) else "application/json"
        head = (
            f"{self.protocol_version} {status} {self.responses.get(status, ('',))[0]}\r\n"
            f"Content-Type: {kind}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        try:
            self.wfile.write(head.encode("latin-1") + data)
        except OSError:
            pass

    def do_POST(self) -> None:
        esp = self.esp
        # Counted in the second the request came in, as an ESP's edge counts it, not
        # after its body was read and parsed (up to 7 ms later on a loaded machine).
        arrived = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        api = esp.api
        if not api.routed(self.path):
            return self._answer(404, api.error(404, "Not found"))
        if not api.authorised(self.headers):
            return self._answer(401, api.unauthorised())
        messages, batch = api.read(self.headers, body)
        addresses = [m.to for m in messages]
        with esp.lock:
            now = time.monotonic()
            esp.last_request_at = now
            for address in addresses:
                esp.received[address] += 1
            second = int(arrived)
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
                return self._answer(504, api.error(504, "Gateway timeout"))
            if action and action[0] == "status":
                code = int(action[1])
                return self._answer(code, api.error(code, action[2] if len(action) > 2 else f"Scripted {code}"))
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
        answers = [self._accept(message) for message in messages]
        if batch:
            return self._answer(200, [a for _, a in answers])
        status, answer = answers[0]
        return self._answer(status, answer)

    def _accept(self, message: Sent) -> tuple[int, object]:
        esp = self.esp
        with esp.lock:
            code = esp.reject.get(message.to)
            refusal = esp.api.refused(message.to, code) if code is not None else esp.api.refusal(message)
            if refusal is not None:
                esp.refused[message.to] += 1
                return refusal
            answer = esp.api.accepted(message)
            esp.accepted[message.to] += 1
            if esp.keep_sent:
                esp.sent.append(message)
            esp.first_accepted.setdefault(message.to, time.monotonic())
            esp.lock.notify_all()
        return answer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake ESP's send API on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--api", choices=sorted(API), default="postmark")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    esp = FakeEsp(port=args.port, api=API[args.api])
    esp.latency = args.latency_ms / 1000
    print(f"fake {esp.api.name} at {esp.url}, ANYMAIL={json.dumps(esp.api.settings(esp.url))}", flush=True)
    try:
        esp.server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
