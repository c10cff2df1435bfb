"""Offline tests of memrl_client.py and agent_loop.py against in-process fake servers (http.server in a thread).

    cd examples/python && python3 -m unittest -v

The fakes follow docs/http-api.md: ScriptedServer answers from a script and records every request (for the client's
wire behaviour); FakeMemRL is a small single-tenant MemRL (hashing embedder, two-phase recall, Q rule, idempotency keys)
so the agent loop can run end to end without the silo.
"""

import contextlib
import io
import json
import math
import os
import sys
import tempfile
import threading
import unittest
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import agent_loop  # noqa: E402
import memrl_client  # noqa: E402
from memrl_client import MemRLClient, MemRLError, default_api_key  # noqa: E402

KEY = "test-key-123"


class FakeServer:
    """An HTTP server on 127.0.0.1:<free port> whose answers come from ``app(request) -> (status, headers, body)``.

    ``request`` is a dict: method, path (decoded segments), raw_path, query, headers, body (decoded JSON or None).
    Every request is recorded in ``requests``.
    """

    def __init__(self, app):
        self.app = app
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                raw_path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = {
                    "method": self.command,
                    "raw_path": raw_path,
                    "path": [urllib.parse.unquote(s) for s in raw_path.strip("/").split("/")],
                    "query": dict(urllib.parse.parse_qsl(query)),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "raw_body": raw,
                    "body": json.loads(raw) if raw else None,
                }
                fake.requests.append(request)
                status, headers, body = fake.app(request)
                payload = b"" if body is None else json.dumps(body).encode("utf-8")
                self.send_response(status)
                content_type = "application/problem+json" if status >= 400 else "application/json"
                if payload:
                    self.send_header("Content-Type", content_type)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:{}".format(self.httpd.server_address[1])
        # A short poll interval makes shutdown() quick (the default waits up to half a second per server).
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def problem(status, title, detail, **extra):
    return dict({"type": "about:blank", "status": status, "title": title, "detail": detail}, **extra)


def scripted(*responses):
    """An app answering with the given (status, headers, body) triples in order, then 500."""
    queue = list(responses)
    return lambda request: queue.pop(0) if queue else (500, None, problem(500, "Script exhausted", "no more"))


def client_for(server, **kwargs):
    client = MemRLClient(server.url, KEY, timeout=5, **kwargs)
    client.sleeps = []
    client._sleep = client.sleeps.append      # record instead of sleeping
    return client


class ClientWireTests(unittest.TestCase):
    def test_auth_and_content_type_sent_on_every_request(self):
        bank = {"name": "b", "dimension": 384}
        with FakeServer(scripted((200, None, bank), (201, None, bank))) as server:
            client = client_for(server)
            self.assertEqual(client.get_bank("b"), bank)
            client.create_bank("b")
        for request in server.requests:
            self.assertEqual(request["headers"]["authorization"], "Bearer " + KEY)
            self.assertEqual(request["headers"]["content-type"], "application/json")
        self.assertEqual(server.requests[0]["raw_path"], "/v1/banks/b")
        self.assertNotIn("idempotency-key", server.requests[0]["headers"])   # a read carries no key
        self.assertIn("idempotency-key", server.requests[1]["headers"])      # a mutation always does

    def test_none_fields_are_omitted(self):
        ok = (200, None, {"token": "t", "memories": []})
        with FakeServer(scripted(ok, ok, (201, None, {"memoryId": "m"}), (200, None, {"updated": []}))) as server:
            client = client_for(server)
            client.recall("b", query_text="hello")
            client.recall("b", query=[0.5, 0.25], k2=2, lam=0.7, require_full_coverage=True)
            client.write("b", "did it", True, intent_text="task")
            client.reward("b", "t", 0.0)
        bodies = [r["body"] for r in server.requests]
        self.assertEqual(bodies[0], {"queryText": "hello"})
        self.assertEqual(bodies[1], {"query": [0.5, 0.25], "k2": 2, "lambda": 0.7, "requireFullCoverage": True})
        self.assertEqual(bodies[2], {"intentText": "task", "experience": "did it", "success": True})
        self.assertEqual(bodies[3], {"token": "t", "reward": 0.0})          # a reward of 0 is not None: kept
        for raw in (r["raw_body"] for r in server.requests):
            self.assertNotIn(b"null", raw)

    def test_path_segments_are_quoted(self):
        with FakeServer(scripted((200, None, {"id": "x"}))) as server:
            client_for(server).get_memory("my bank/1", "a?b#c%")
        self.assertEqual(server.requests[0]["raw_path"], "/v1/banks/my%20bank%2F1/memories/a%3Fb%23c%25")

    def test_idempotency_key_is_reused_across_a_retried_503(self):
        unavailable = (503, {"Retry-After": "2"}, problem(503, "Service Unavailable", "shard busy"))
        written = (201, None, {"memoryId": "m1", "createdKey": True, "q": 0.0})
        with FakeServer(scripted(unavailable, unavailable, written)) as server:
            client = client_for(server)
            result = client.write("b", "exp", False, intent_text="task")
            with FakeServer(scripted(written)) as other:                    # another logical call: another key
                client_for(other).write("b", "exp", False, intent_text="task")
        self.assertEqual(result["memoryId"], "m1")
        keys = [r["headers"]["idempotency-key"] for r in server.requests]
        self.assertEqual(len(keys), 3)
        self.assertEqual(len(set(keys)), 1, "every retry of one call carries the same key")
        uuid.UUID(keys[0])                                                   # a uuid4 the client made
        self.assertEqual(client.sleeps, [2.0, 2.0], "Retry-After is honoured")
        self.assertEqual([r["raw_body"] for r in server.requests].count(server.requests[0]["raw_body"]), 3)
        self.assertNotEqual(other.requests[0]["headers"]["idempotency-key"], keys[0])

    def test_given_idempotency_key_is_sent_and_429_retried_with_backoff(self):
        limited = (429, None, problem(429, "Too Many Requests", "slow down"))
        with FakeServer(scripted(limited, (200, None, {"updated": []}))) as server:
            client = client_for(server)
            client.reward("b", "tok", 1, memory_ids=["m1"], idempotency_key="my-key")
        self.assertEqual([r["headers"]["idempotency-key"] for r in server.requests], ["my-key", "my-key"])
        self.assertEqual(server.requests[0]["body"], {"token": "tok", "reward": 1, "memoryIds": ["m1"]})
        self.assertEqual(len(client.sleeps), 1)
        self.assertTrue(0 < client.sleeps[0] <= 0.2)                         # backoff without Retry-After

    def test_retries_stop_after_five_attempts(self):
        unavailable = (503, None, problem(503, "Service Unavailable", "no full coverage"))
        with FakeServer(scripted(*[unavailable] * 6)) as server:
            client = client_for(server)
            with self.assertRaises(MemRLError) as raised:
                client.recall("b", query_text="q", require_full_coverage=True)
        self.assertEqual(len(server.requests), 5)
        self.assertEqual(raised.exception.status, 503)

    def test_other_errors_are_not_retried_and_raise_with_field_expected_actual(self):
        bad = problem(400, "Bad Request", "k2 is out of range.", field="k2", expected="an integer in [1, k1]",
                      actual=9)
        with FakeServer(scripted((400, None, bad))) as server:
            client = client_for(server)
            with self.assertRaises(MemRLError) as raised:
                client.recall("b", query_text="q", k1=5, k2=9)
        error = raised.exception
        self.assertEqual(len(server.requests), 1)
        self.assertEqual(error.status, 400)
        self.assertEqual(error.problem["field"], "k2")
        self.assertEqual((error.field, error.expected, error.actual), ("k2", "an integer in [1, k1]", 9))
        message = str(error)
        for part in ("400", "Bad Request", "k2 is out of range.", 'field="k2"', 'expected="an integer in [1, k1]"',
                     "actual=9"):
            self.assertIn(part, message)

    def test_not_found_without_extras(self):
        with FakeServer(scripted((404, None, problem(404, "Not Found", "No bank 'nope'.")))) as server:
            with self.assertRaises(MemRLError) as raised:
                client_for(server).get_bank("nope")
        self.assertEqual(str(raised.exception), "HTTP 404 Not Found: No bank 'nope'.")

    def test_connection_errors_are_retried(self):
        with FakeServer(scripted()) as server:
            url = server.url
        client = MemRLClient(url, KEY, timeout=2)                             # the port is closed now
        sleeps = []
        client._sleep = sleeps.append
        with self.assertRaises(OSError):
            client.get_bank("b")
        self.assertEqual(len(sleeps), 4)                                      # five attempts, four waits

    def test_iter_memories_follows_cursors(self):
        pages = {
            None: {"memories": [{"id": "a"}, {"id": "b"}], "nextCursor": "c1"},
            "c1": {"memories": [{"id": "c"}, {"id": "d"}], "nextCursor": "c2"},
            "c2": {"memories": [{"id": "e"}], "nextCursor": None},
        }

        def app(request):
            return 200, None, pages[request["query"].get("cursor")]

        with FakeServer(app) as server:
            ids = [m["id"] for m in client_for(server).iter_memories("b", page_size=2)]
        self.assertEqual(ids, ["a", "b", "c", "d", "e"])
        self.assertEqual([r["query"] for r in server.requests],
                         [{"limit": "2"}, {"limit": "2", "cursor": "c1"}, {"limit": "2", "cursor": "c2"}])

    def test_empty_body_returns_none(self):
        with FakeServer(scripted((204, None, None))) as server:
            self.assertIsNone(client_for(server).delete_bank("b"))
        self.assertEqual(server.requests[0]["method"], "DELETE")


class DefaultKeyTests(unittest.TestCase):
    """default_api_key: $MEMRL_API_KEY, else data/api-key.local under the current directory, else under the
    repository root (two levels above memrl_client.py, faked here so a real silo's key file cannot interfere)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        root = os.path.realpath(self.tmp.name)
        self.repo, self.cwd = os.path.join(root, "repo"), os.path.join(root, "elsewhere")
        os.makedirs(os.path.join(self.repo, "examples", "python"))
        os.makedirs(self.cwd)
        saved = (os.environ.pop("MEMRL_API_KEY", None), os.getcwd(), memrl_client.__file__)
        memrl_client.__file__ = os.path.join(self.repo, "examples", "python", "memrl_client.py")
        os.chdir(self.cwd)
        self.addCleanup(self.restore, *saved)

    def restore(self, env, cwd, module_file):
        os.chdir(cwd)
        memrl_client.__file__ = module_file
        os.environ.pop("MEMRL_API_KEY", None)
        if env is not None:
            os.environ["MEMRL_API_KEY"] = env
        self.tmp.cleanup()

    @staticmethod
    def write_key(directory, key):
        os.makedirs(os.path.join(directory, "data"), exist_ok=True)
        with open(os.path.join(directory, "data", "api-key.local"), "w") as f:
            f.write(key)

    def test_missing_everywhere_names_both_places(self):
        with self.assertRaises(RuntimeError) as raised:
            default_api_key()
        message = str(raised.exception)
        self.assertIn("MEMRL_API_KEY", message)
        self.assertIn(os.path.join(self.cwd, "data", "api-key.local"), message)
        self.assertIn(os.path.join(self.repo, "data", "api-key.local"), message)

    def test_repository_root_then_current_directory_then_environment(self):
        self.write_key(self.repo, "from-repo\n")
        self.assertEqual(default_api_key(), "from-repo")
        self.write_key(self.cwd, "  from-cwd\n")
        self.assertEqual(default_api_key(), "from-cwd")
        os.environ["MEMRL_API_KEY"] = " from-env "
        self.assertEqual(default_api_key(), "from-env")


# ---- a small MemRL, so the agent loop runs end to end ----------------------------------------------------------

def hashing_embed(text, dimension=384):
    """Port of MemRL.Client.Agents.HashingEmbedder: hashed words and character trigrams, L2-normalised."""
    vector = [0.0] * dimension

    def add(feature, weight):
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
                   "qInitFailure": 0.0, "mergeThreshold": 0.9}


class FakeMemRL:
    """One tenant, one process: enough of the API for agent_loop.py (paper rules, pool z-scores, no shards)."""

    def __init__(self):
        self.banks = {}
        self.replies = {}   # Idempotency-Key -> (request fingerprint, response)
        self.tokens = {}

    def __call__(self, request):
        if request["headers"].get("authorization") != "Bearer " + KEY:
            return 401, None, problem(401, "Unauthorized", "No or unknown key.")
        key = request["headers"].get("idempotency-key")
        if key is not None:
            fingerprint = (request["method"], request["raw_path"], request["raw_body"])
            if key in self.replies:
                seen, reply = self.replies[key]
                return reply if seen == fingerprint else (409, None, problem(409, "Conflict", "Key reused."))
            reply = self.route(request)
            if reply[0] < 500:
                self.replies[key] = (fingerprint, reply)
            return reply
        return self.route(request)

    def route(self, request):
        method, path, body = request["method"], request["path"], request["body"]
        if path[:2] != ["v1", "banks"]:
            return 404, None, problem(404, "Not Found", "No such endpoint.")
        if len(path) == 2 and method == "POST":
            return self.create(body)
        bank = self.banks.get(path[2])
        if bank is None:
            return 404, None, problem(404, "Not Found", "No bank '{}'.".format(path[2]))
        rest = path[3:]
        if rest == [] and method == "GET":
            return 200, None, bank["info"]
        if rest == [] and method == "DELETE":
            del self.banks[path[2]]
            return 204, None, None
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
            page = ordered[start:start + limit]
            more = start + limit < len(ordered)
            return 200, None, {"memories": [self.public(m) for m in page],
                               "nextCursor": str(start + limit) if more else None}
        if len(rest) == 2 and rest[0] == "memories":
            memory = bank["memories"].get(rest[1])
            if memory is None:
                return 404, None, problem(404, "Not Found", "No memory '{}'.".format(rest[1]))
            if method == "GET":
                return 200, None, self.public(memory)
            if method == "DELETE":
                del bank["memories"][rest[1]]
                return 204, None, None
        return 405, None, problem(405, "Method Not Allowed", "{} {}".format(method, request["raw_path"]))

    def create(self, body):
        if body["name"] in self.banks:
            return 200, None, self.banks[body["name"]]["info"]
        options = dict(DEFAULT_OPTIONS, **(body.get("options") or {}))
        info = {"name": body["name"], "dimension": 384, "embedderId": "memrl-hashing/v1/384", "shardCount": 1,
                "version": 1, "createdAt": "2025-01-01T00:00:00Z", "options": options, "index": {"exact": True}}
        self.banks[body["name"]] = {"info": info, "keys": [], "memories": {}, "seq": 0}
        return 201, None, info

    @staticmethod
    def public(m):
        return {k: m[k] for k in ("id", "intentText", "experience", "success", "q", "visits")}

    @staticmethod
    def z_scores(values):
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) if len(values) > 1 else 1.0
        std = std if std > 1e-9 else 1.0
        return [(v - mean) / std for v in values]

    def recall(self, bank, body):
        options = bank["info"]["options"]
        query = hashing_embed(body["queryText"])
        sims = [(sum(a * b for a, b in zip(query, key["vector"])), i) for i, key in enumerate(bank["keys"])]
        passing = sorted((s for s in sims if s[0] >= options["delta"]), key=lambda s: (-s[0], s[1]))
        pool = [(sim, m) for sim, i in passing[:options["k1"]] for m in bank["memories"].values() if m["key"] == i]
        token = str(uuid.uuid4())
        if not pool:
            self.tokens[token] = []
            return 200, None, {"token": token, "memories": [], "poolSize": 0, "explored": False}
        z_sim = self.z_scores([sim for sim, _ in pool])
        z_q = [max(-3.0, min(3.0, z)) for z in self.z_scores([m["q"] for _, m in pool])]
        lam = options["lambda"]
        scored = [((1 - lam) * zs + lam * zq, n, sim, m) for n, ((sim, m), zs, zq) in enumerate(zip(pool, z_sim, z_q))]
        top = sorted(scored, key=lambda s: (-s[0], s[1]))[:options["k2"]]
        self.tokens[token] = [m["id"] for _, _, _, m in top]
        memories = [dict(self.public(m), similarity=sim, score=score) for score, _, sim, m in top]
        return 200, None, {"token": token, "memories": memories, "poolSize": len(pool), "explored": False}

    def reward(self, bank, body):
        ids = self.tokens.get(body["token"])
        if ids is None:
            return 400, None, problem(400, "Bad Request", "Unknown token.", field="token")
        updated = []
        for memory_id in body.get("memoryIds") or ids:
            m = bank["memories"][memory_id]
            m["q"] += bank["info"]["options"]["alpha"] * (body["reward"] - m["q"])
            m["visits"] += 1
            updated.append({"id": m["id"], "q": m["q"], "visits": m["visits"]})
        return 200, None, {"updated": updated}

    def write(self, bank, body):
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
        memory_id = "m{}".format(bank["seq"])
        q = options["qInitSuccess"] if body["success"] else options["qInitFailure"]
        bank["memories"][memory_id] = {"id": memory_id, "seq": bank["seq"], "key": key, "q": q, "visits": 0,
                                       "intentText": body["intentText"], "experience": body["experience"],
                                       "success": body["success"]}
        return 201, None, {"memoryId": memory_id, "createdKey": created, "q": q}


class AgentLoopTests(unittest.TestCase):
    def run_loop(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with FakeServer(FakeMemRL()) as server, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = agent_loop.main(["--url", server.url, "--key", KEY, "--bank", "loop-test"] + list(args))
        return code, out.getvalue(), err.getvalue(), server

    def test_agent_loop_learns_and_cleans_up(self):
        code, out, err, server = self.run_loop("--seed", "7")
        self.assertEqual(code, 0, out + err)
        self.assertRegex(out.strip().splitlines()[-1],
                         r"^agent loop OK: 120 episodes, success first third \d\.\d\d, last third \d\.\d\d$")
        self.assertEqual(server.requests[0]["body"],
                         {"name": "loop-test", "options": {"delta": 0.0, "qInitSuccess": 1.0}})
        self.assertEqual(server.app.banks, {}, "the bank is deleted at the end")

    def test_agent_loop_learns_for_other_seeds(self):
        for seed in ("1", "2", "3"):
            code, out, err, _ = self.run_loop("--seed", seed, "--episodes", "90")
            self.assertEqual(code, 0, "seed {}:\n{}{}".format(seed, out, err))

    def test_agent_loop_leaves_an_existing_bank_with_memories_alone(self):
        fake = FakeMemRL()
        fake.create({"name": "busy", "options": {"delta": 0.0, "qInitSuccess": 1.0}})
        fake.write(fake.banks["busy"], {"intentText": "t", "experience": "e", "success": True})
        out, err = io.StringIO(), io.StringIO()
        with FakeServer(fake) as server, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = agent_loop.main(["--url", server.url, "--key", KEY, "--bank", "busy"])
        self.assertEqual(code, 2)
        self.assertIn("already exists and holds 1 memories", err.getvalue())
        self.assertEqual(len(fake.banks["busy"]["memories"]), 1)
        self.assertEqual([r["method"] for r in server.requests], ["POST", "GET"])

    def test_agent_loop_reports_a_server_error_and_exits_non_zero(self):
        with FakeServer(scripted((401, None, problem(401, "Unauthorized", "No or unknown key.")))) as server:
            buffer_out, buffer_err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(buffer_out), contextlib.redirect_stderr(buffer_err):
                code = agent_loop.main(["--url", server.url, "--key", "wrong"])
            err = buffer_err.getvalue()
        self.assertNotEqual(code, 0)
        self.assertIn("HTTP 401 Unauthorized", err)


if __name__ == "__main__":
    unittest.main()
