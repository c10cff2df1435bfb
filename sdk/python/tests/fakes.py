"""In-process fakes of the MemRL HTTP API for the SDK's offline tests (http.server in a thread, loopback only).

``FakeServer`` answers from ``app(request) -> (status, headers, body)`` and records every request; ``scripted`` makes an
app from a list of answers. ``FakeMemRL`` is a small single-tenant MemRL following docs/http-api.md (hashing embedder,
two-phase recall with pool z-scores, the Q rule, Idempotency-Key replays) so that an agent loop runs end to end. It
stands in for the contract, not the server: the integration tests run the same calls against a real silo.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

KEY = "test-key-123"
# An app answer meaning "close the connection without answering" (the response to a call is lost).
DROP = object()

App = Callable[[dict], Any]


class FakeServer:
    def __init__(self, app: App) -> None:
        self.app = app
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                raw_path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = {
                    "method": self.command,
                    "raw_path": raw_path,
                    "path": [urllib.parse.unquote(s) for s in raw_path.strip("/").split("/")],
                    "query": dict(urllib.parse.parse_qsl(query)),
                    # Every pair in order: a repeated parameter (a filter's set) shows as many pairs.
                    "query_pairs": urllib.parse.parse_qsl(query),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "raw_body": raw,
                    "body": json.loads(raw) if raw else None,
                }
                fake.requests.append(request)
                answer = fake.app(request)
                if answer is DROP:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                status, headers, body = answer
                payload = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
                self.send_response(status)
                if payload:
                    self.send_header("Content-Type", "application/problem+json" if status >= 400 else "application/json")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # A short poll interval makes shutdown() quick (the default waits up to half a second per server).
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def problem(status: int, title: str, detail: str, **extra: Any) -> dict:
    return dict({"type": "about:blank", "status": status, "title": title, "detail": detail}, **extra)


def scripted(*answers: Any) -> App:
    """Answers in order, then 500 'Script exhausted'."""
    queue = list(answers)
    return lambda request: queue.pop(0) if queue else (500, None, problem(500, "Script exhausted", "no more"))


def hashing_embed(text: str, dimension: int = 384) -> list[float]:
    """Port of MemRL.Client.Agents.HashingEmbedder: hashed words and character trigrams, L2-normalised."""
    vector = [0.0] * dimension

    def add(feature: str, weight: float) -> None:
        h = 14695981039346656037
        for byte in feature.encode("utf-8"):
            h = ((h ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
        vector[h % dimension] += weight if (h >> 63) == 0 else -weight

    lower = text.lower()
    for word in lower.split():
        add("w:" + word.strip(".,;:!?\"'"), 1.0)
    padded = " " + lower + " "
    for i in range(len(padded) - 2):
        add("c:" + padded[i:i + 3], 0.5)
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return [x / norm for x in vector]


DEFAULT_OPTIONS = {"alpha": 0.3, "lambda": 0.5, "k1": 5, "k2": 3, "delta": 0.5, "qInitSuccess": 0.0,
                   "qInitFailure": 0.0, "mergeThreshold": 0.9, "rewardMin": -1.0, "rewardMax": 1.0}


class FakeMemRL:
    """One tenant, one process. ``lose_responses`` of the next mutations are applied and then their connection is
    dropped, as when a response is lost on the way back."""

    def __init__(self) -> None:
        self.banks: dict[str, dict] = {}
        self.replies: dict[str, tuple] = {}   # Idempotency-Key -> (request fingerprint, answer)
        self.tokens: dict[str, list[str]] = {}
        self.lose_responses = 0
        self.applied = 0                       # mutations applied (replays excluded)

    def __call__(self, request: dict) -> Any:
        if request["headers"].get("authorization") != "Bearer " + KEY:
            return 401, {"WWW-Authenticate": 'Bearer realm="memrl"'}, problem(401, "Unauthorized", "No or unknown key.")
        key = request["headers"].get("idempotency-key")
        if key is None:
            return self.route(request)
        fingerprint = (request["method"], request["raw_path"], request["raw_body"])
        if key in self.replies:
            seen, reply = self.replies[key]
            if seen != fingerprint:
                return 409, None, problem(409, "Conflict", "Key reused with another body.", field="Idempotency-Key")
        else:
            reply = self.route(request)
            if reply[0] < 500:
                self.replies[key] = (fingerprint, reply)
                if reply[0] < 300:
                    self.applied += 1
        if self.lose_responses > 0:
            self.lose_responses -= 1
            return DROP
        return reply

    def route(self, request: dict) -> tuple:
        method, path, body = request["method"], request["path"], request["body"]
        if path[:2] != ["v1", "banks"]:
            return 404, None, problem(404, "Not Found", "No such endpoint.", field="path")
        if len(path) == 2 and method == "POST":
            return self.create(body)
        if len(path) == 2 and method == "GET":
            return 200, None, {"banks": [{"name": n, "memories": len(b["memories"]), "textBytes": 0}
                                         for n, b in sorted(self.banks.items())]}
        bank = self.banks.get(path[2])
        if bank is None:
            return 404, None, problem(404, "Not Found", f"No bank '{path[2]}'.", field="bank", expected="a bank",
                                      actual=path[2])
        rest = path[3:]
        if rest == [] and method == "GET":
            return 200, None, bank["info"]
        if rest == [] and method == "DELETE":
            del self.banks[path[2]]
            return 204, None, None
        if rest == ["options"] and method == "PATCH":
            bank["info"] = dict(bank["info"], options=dict(bank["info"]["options"], **body),
                                version=bank["info"]["version"] + 1)
            return 200, None, bank["info"]
        if rest == ["stats"] and method == "GET":
            return 200, None, {"keys": len(bank["keys"]), "memories": len(bank["memories"])}
        if rest == ["recall"] and method == "POST":
            return self.recall(bank, body)
        if rest == ["reward"] and method == "POST":
            return self.reward(bank, body)
        if rest == ["memories"] and method == "POST":
            return self.write(bank, body)
        if rest == ["memories"] and method == "GET":
            ordered = sorted(bank["memories"].values(), key=lambda m: m["seq"])
            start, limit = int(request["query"].get("cursor", 0)), int(request["query"].get("limit", 100))
            more = start + limit < len(ordered)
            return 200, None, {"memories": [self.public(m) for m in ordered[start:start + limit]],
                               "nextCursor": str(start + limit) if more else None}
        if len(rest) == 2 and rest[0] == "memories":
            memory = bank["memories"].get(rest[1])
            if memory is None:
                return 404, None, problem(404, "Not Found", f"No memory '{rest[1]}'.", field="memoryId")
            if method == "GET":
                return 200, None, self.public(memory)
            if method == "DELETE":
                del bank["memories"][rest[1]]
                return 204, None, None
        return 405, None, problem(405, "Method Not Allowed", f"{method} {request['raw_path']}", field="method")

    def create(self, body: dict) -> tuple:
        if body["name"] in self.banks:
            return 200, None, self.banks[body["name"]]["info"]
        options = dict(DEFAULT_OPTIONS, **(body.get("options") or {}))
        info = {"name": body["name"], "dimension": 384, "embedderId": "memrl-hashing/v1/384", "shardCount": 1,
                "version": 1, "createdAt": "2026-01-01T00:00:00Z", "options": options, "index": {"exact": True}}
        self.banks[body["name"]] = {"info": info, "keys": [], "memories": {}, "seq": 0}
        return 201, None, info

    @staticmethod
    def public(m: dict) -> dict:
        return {k: m[k] for k in ("id", "intentText", "experience", "success", "q", "visits")}

    @staticmethod
    def z_scores(values: list[float]) -> list[float]:
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) if len(values) > 1 else 1.0
        std = std if std > 1e-9 else 1.0
        return [(v - mean) / std for v in values]

    def recall(self, bank: dict, body: dict) -> tuple:
        options = bank["info"]["options"]
        query = hashing_embed(body["queryText"])
        sims = [(sum(a * b for a, b in zip(query, key["vector"])), i) for i, key in enumerate(bank["keys"])]
        passing = sorted((s for s in sims if s[0] >= options["delta"]), key=lambda s: (-s[0], s[1]))
        pool = [(sim, m) for sim, i in passing[:options["k1"]] for m in bank["memories"].values() if m["key"] == i]
        token = str(uuid.uuid4())
        coverage = {"shardsAnswered": 1, "shardsTotal": 1}
        if not pool:
            self.tokens[token] = []
            return 200, None, {"token": token, "coverage": coverage, "memories": [], "poolSize": 0, "explored": False}
        z_sim = self.z_scores([sim for sim, _ in pool])
        z_q = [max(-3.0, min(3.0, z)) for z in self.z_scores([m["q"] for _, m in pool])]
        lam = options["lambda"]
        scored = [((1 - lam) * zs + lam * zq, n, sim, m) for n, ((sim, m), zs, zq) in enumerate(zip(pool, z_sim, z_q))]
        top = sorted(scored, key=lambda s: (-s[0], s[1]))[:options["k2"]]
        self.tokens[token] = [m["id"] for _, _, _, m in top]
        memories = [dict(self.public(m), similarity=sim, score=score) for score, _, sim, m in top]
        return 200, None, {"token": token, "coverage": coverage, "memories": memories, "poolSize": len(pool),
                           "explored": False}

    def reward(self, bank: dict, body: dict) -> tuple:
        ids = self.tokens.get(body["token"])
        if ids is None:
            return 400, None, problem(400, "Bad Request", "Unknown token.", field="token", reason="token-invalid")
        updated = []
        for memory_id in body.get("memoryIds") or ids:
            m = bank["memories"][memory_id]
            m["q"] += bank["info"]["options"]["alpha"] * (body["reward"] - m["q"])
            m["visits"] += 1
            updated.append({"id": m["id"], "q": m["q"], "visits": m["visits"]})
        return 200, None, {"updated": updated}

    def write(self, bank: dict, body: dict) -> tuple:
        options = bank["info"]["options"]
        vector = hashing_embed(body["intentText"])
        best = max(((sum(a * b for a, b in zip(vector, key["vector"])), i) for i, key in enumerate(bank["keys"])),
                   default=None)
        created = best is None or best[0] < options["mergeThreshold"]
        if created:
            bank["keys"].append({"vector": vector})
            key = len(bank["keys"]) - 1
        else:
            key = best[1]
        bank["seq"] += 1
        memory_id = f"m{bank['seq']}"
        q = options["qInitSuccess"] if body["success"] else options["qInitFailure"]
        bank["memories"][memory_id] = {"id": memory_id, "seq": bank["seq"], "key": key, "q": q, "visits": 0,
                                       "intentText": body["intentText"], "experience": body["experience"],
                                       "success": body["success"]}
        return 201, None, {"memoryId": memory_id, "createdKey": created, "q": q}
