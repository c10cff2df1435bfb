"""The agent-loop helper (recall → act → reward → write) against FakeMemRL."""

from __future__ import annotations

import random
import unittest

from fakes import KEY, FakeMemRL, FakeServer, scripted
from memrl import AgentLoop, AsyncAgentLoop, AsyncMemRL, MemRL, Outcome

RIGHT = "Send a password reset link."
WRONG = "Escalate and wait."
TASKS = ["I forgot my password", "how do I reset my password", "the password reset e-mail never arrived"]


def policy(rng: random.Random):
    """Follows a recalled success, avoids a recalled failure, guesses when nothing is recalled."""
    def act(memories):
        if memories and memories[0]["success"]:
            tactic = memories[0]["experience"]
        elif memories:
            tactic = RIGHT if memories[0]["experience"] == WRONG else WRONG
        else:
            tactic = rng.choice([RIGHT, WRONG])
        return Outcome(tactic, tactic == RIGHT)
    return act


class AgentLoopTests(unittest.TestCase):
    def test_Scope_FiltersEveryRecall_AndTravelsWithEveryWrite(self):
        answers = [(200, None, {"token": "t", "memories": []}),
                   (201, None, {"memoryId": "m1", "createdKey": True, "q": 0.0})]
        with FakeServer(scripted(*answers)) as server:
            loop = AgentLoop(MemRL(server.url, KEY), "b", scope={"userId": "u", "runId": None},
                             metadata={"channel": "chat"}, recall_options={"filter": {"metadata.topic": "x"}})
            loop.run_episode("task", lambda memories: Outcome("did", True))
        recall, write = (r["body"] for r in server.requests)
        self.assertEqual(recall["filter"], {"metadata.topic": "x", "userId": "u"}, "the scope is ANDed in")
        self.assertEqual((write["scope"], write["metadata"]), ({"userId": "u"}, {"channel": "chat"}))
        with self.assertRaises(ValueError):
            AgentLoop(MemRL(server.url, KEY), "b", scope={"userId": "u"}, recall_options={"filter": {"userId": "v"}})

    def test_RunEpisode_RecallsRewardsAndWrites(self):
        fake = FakeMemRL()
        fake.create({"name": "b", "options": {"delta": 0.0, "qInitSuccess": 1.0}})
        rng = random.Random(3)
        with FakeServer(fake) as server:
            loop = AgentLoop(MemRL(server.url, KEY), "b")
            first = loop.run_episode(TASKS[0], policy(rng))
            episodes = [loop.run_episode(rng.choice(TASKS), policy(rng)) for _ in range(20)]
        self.assertEqual(first.memories, [])
        self.assertIsNone(first.rewarded, "nothing recalled, nothing to reward")
        self.assertEqual(first.written["memoryId"], "m1")
        self.assertTrue(all(e.rewarded is not None for e in episodes))
        self.assertTrue(all(e.outcome.success for e in episodes[-5:]), "the memory taught the right tactic")
        methods = [(r["method"], r["path"][-1]) for r in server.requests]
        self.assertEqual(methods[:2], [("POST", "recall"), ("POST", "memories")])
        self.assertEqual(methods[2:5], [("POST", "recall"), ("POST", "reward"), ("POST", "memories")])
        reward, write = server.requests[3]["body"], server.requests[4]["body"]
        self.assertEqual(reward["token"], write["recallToken"], "the reward and the write carry the recall's token")
        self.assertEqual(len(fake.banks["b"]["memories"]), 21)

    def test_RunEpisode_WithoutWrite_OnlyRewards_WithTheOutcomesReward(self):
        fake = FakeMemRL()
        fake.create({"name": "b", "options": {"delta": 0.0}})
        fake.write(fake.banks["b"], {"intentText": TASKS[0], "experience": RIGHT, "success": True})
        with FakeServer(fake) as server:
            loop = AgentLoop(MemRL(server.url, KEY), "b", write=False, recall_options={"k2": 1})
            episode = loop.run_episode(TASKS[1], lambda memories: Outcome(RIGHT, True, reward=0.5))
        self.assertEqual([r["path"][-1] for r in server.requests], ["recall", "reward"])
        self.assertEqual(server.requests[0]["body"]["k2"], 1)
        self.assertEqual(server.requests[1]["body"]["reward"], 0.5)
        self.assertIsNone(episode.written)


class AsyncAgentLoopTests(unittest.IsolatedAsyncioTestCase):
    async def test_RunEpisode_TakesACoroutineAct(self):
        fake = FakeMemRL()
        fake.create({"name": "b", "options": {"delta": 0.0, "qInitSuccess": 1.0}})
        fake.write(fake.banks["b"], {"intentText": TASKS[0], "experience": RIGHT, "success": True})

        async def act(memories):
            return Outcome(memories[0]["experience"], True)

        with FakeServer(fake) as server:
            async with AsyncMemRL(server.url, KEY) as client:
                episode = await AsyncAgentLoop(client, "b").run_episode(TASKS[1], act)
        self.assertEqual(episode.outcome.experience, RIGHT)
        self.assertEqual(episode.rewarded["updated"][0]["id"], "m1")
        self.assertEqual(episode.written["memoryId"], "m2")


if __name__ == "__main__":
    unittest.main()
