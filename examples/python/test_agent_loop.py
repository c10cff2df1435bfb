"""Offline tests of agent_loop.py against the SDK's FakeMemRL (sdk/python/tests/fakes.py), with memrl importable
(installed, or PYTHONPATH=sdk/python/src):

    cd examples/python && PYTHONPATH=../../sdk/python/src python3 -m unittest -v

The SDK's own tests cover the client; these cover the script: its policy learns, its checks pass, it cleans up, and it
refuses to run in a bank that holds memories.
"""

import contextlib
import io
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "sdk", "python", "tests"))

import agent_loop  # noqa: E402
from fakes import KEY, FakeMemRL, FakeServer, problem, scripted  # noqa: E402


class AgentLoopTests(unittest.TestCase):
    def run_loop(self, app, *args):
        out, err = io.StringIO(), io.StringIO()
        with FakeServer(app) as server, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = agent_loop.main(["--url", server.url, "--key", KEY] + list(args))
        return code, out.getvalue(), err.getvalue(), server

    def test_AgentLoop_Learns_AndCleansUp(self):
        fake = FakeMemRL()
        code, out, err, server = self.run_loop(fake, "--seed", "7", "--bank", "loop-test")
        self.assertEqual(code, 0, out + err)
        self.assertRegex(out.strip().splitlines()[-1],
                         r"^agent loop OK: 120 episodes, success first third \d\.\d\d, last third \d\.\d\d$")
        self.assertEqual(server.requests[0]["body"], {"name": "loop-test", "options": {"delta": 0.0, "qInitSuccess": 1.0}})
        self.assertEqual(fake.banks, {}, "the bank is deleted at the end")

    def test_AgentLoop_LearnsForOtherSeeds(self):
        for seed in ("1", "2", "3"):
            code, out, err, _ = self.run_loop(FakeMemRL(), "--seed", seed, "--episodes", "90")
            self.assertEqual(code, 0, f"seed {seed}:\n{out}{err}")

    def test_AgentLoop_LeavesAnExistingBankWithMemoriesAlone(self):
        fake = FakeMemRL()
        fake.create({"name": "busy", "options": {"delta": 0.0, "qInitSuccess": 1.0}})
        fake.write(fake.banks["busy"], {"intentText": "t", "experience": "e", "success": True})
        code, _, err, server = self.run_loop(fake, "--bank", "busy")
        self.assertEqual(code, 2)
        self.assertIn("already exists and holds 1 memories", err)
        self.assertEqual(len(fake.banks["busy"]["memories"]), 1)
        self.assertEqual([r["method"] for r in server.requests], ["POST", "GET"])

    def test_AgentLoop_ReportsAServerError_AndExitsNonZero(self):
        code, _, err, _ = self.run_loop(scripted((401, None, problem(401, "Unauthorized", "No or unknown key."))))
        self.assertEqual(code, 2)
        self.assertIn("HTTP 401 Unauthorized", err)


if __name__ == "__main__":
    unittest.main()
