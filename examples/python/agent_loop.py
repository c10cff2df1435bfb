#!/usr/bin/env python3
"""A simulated agent that gets better at recurring tasks by remembering through MemRL.Cluster. No LLM needed.

The "world": four task families (password resets, refunds, late parcels, cancellations), each asked in a few
phrasings. For every family exactly one tactic works; two distractor tactics never work. The agent knows none of this.

Each episode, the agent:
  1. recalls memories for the task text (``query_text``: the server embeds it),
  2. looks at the top recalled memory: follows its tactic if it records a success, tries another tactic at random if
     it records a failure, and guesses when nothing is recalled,
  3. gets reward 1 if the tactic is the family's right one, else 0,
  4. rewards the memories the recall returned (via the recall token), which moves their Q toward the reward,
  5. writes the episode: intent = the task text, experience = the tactic, success flag, recall token.
Steps 1, 4 and 5 are the SDK's ``memrl.AgentLoop`` (sdk/python); this script is the world, the policy and the checks.

At first it guesses. As memories accumulate, their Q values separate the helpful ones from the misleading ones (a
success of another family that a look-alike phrasing such as "how do I ..." pulls to the top), and the agent mostly
picks the right tactic. With ``--lam 0`` (similarity only, Q ignored) the same agent keeps following look-alikes.

    pip install ./sdk/python      # once (or PYTHONPATH=sdk/python/src)
    python3 examples/python/agent_loop.py [--episodes 120] [--seed 7] [--bank NAME] [--url URL] [--key KEY]

Exits non-zero with a message if a check fails or the last third of episodes does not beat the first third.
"""

import argparse
import json
import random
import sys
import uuid
from pathlib import Path

from memrl import AgentLoop, MemRL, MemRLError, NotFound, Outcome, default_api_key

# The silo writes data/api-key.local where it was started, usually the repository root.
REPOSITORY = Path(__file__).resolve().parents[2]

# family -> (the one tactic that works, phrasings of the task)
FAMILIES = {
    "password": (
        "Send a password reset link to the e-mail address on file and confirm it arrived.",
        [
            "I forgot my password and cannot log in",
            "how do I reset my password",
            "the password reset e-mail never arrived",
        ],
    ),
    "refund": (
        "Check the order date against the 30-day policy, then refund to the original payment method.",
        [
            "I want a refund for the broken blender I ordered",
            "please refund my order, the item arrived broken",
            "how long does a refund take to reach my card",
        ],
    ),
    "shipping": (
        "Look up the tracking number and give the carrier's current delivery estimate.",
        [
            "where is my parcel, it is three days late",
            "my parcel has not been delivered yet",
            "the parcel tracking page shows no update since Monday",
        ],
    ),
    "cancel": (
        "Cancel the subscription at the end of the billing period and send a confirmation.",
        [
            "cancel my monthly subscription please",
            "I want to cancel my subscription before it renews",
            "how do I cancel my plan so I am not charged again",
        ],
    ),
}
DISTRACTORS = [
    "Escalate the ticket to a human supervisor and wait.",
    "Ask the customer to clear the browser cache and try again.",
]
TACTICS = [tactic for tactic, _ in FAMILIES.values()] + DISTRACTORS

WINDOW = 20  # episodes per row of the success-rate table


class CheckFailed(Exception):
    """A check of the run failed; the message says which."""


def choose_tactic(memories, rng):
    """The agent's policy: (tactic, how it was chosen). ``memories`` is the recall's list, best first.

    It trusts MemRL's ranking (similarity blended with learned Q) and looks at the top memory only. A success is
    followed. A failure is not copied, or the agent would repeat its first mistake forever; it names a tactic to
    avoid, and the agent tries one of the others at random. With nothing recalled, it guesses.
    """
    if not memories:
        return rng.choice(TACTICS), "guessed"
    top = memories[0]
    if top.get("success") and top.get("experience") in TACTICS:
        return top["experience"], "followed"
    return rng.choice([t for t in TACTICS if t != top.get("experience")]), "avoided"


def run_episodes(client, bank, episodes, rng, verbose=False):
    """Runs the loop on the SDK's AgentLoop (recall, act, reward the recalled memories, write); one dict per episode."""
    loop = AgentLoop(client, bank)
    results = []
    tasks = [(family, text) for family, (_, texts) in FAMILIES.items() for text in texts]
    for number in range(1, episodes + 1):
        family, task = rng.choice(tasks)
        chosen = {}

        def act(memories):
            tactic, chosen["how"] = choose_tactic(memories, rng)
            # Reward 1 for the family's right tactic, else 0 (the Outcome's default for a success / a failure).
            return Outcome(tactic, tactic == FAMILIES[family][0])

        episode = loop.run_episode(task, act)
        results.append({"family": family, "task": task, "tactic": episode.outcome.experience, "how": chosen["how"],
                        "success": episode.outcome.success, "recalled": len(episode.memories),
                        "memoryId": episode.written["memoryId"]})
        if verbose:
            print("{:4d} {:9s} {:8s} {:7s} recalled {} | {}".format(
                number, family, chosen["how"], "success" if episode.outcome.success else "failure",
                len(episode.memories), task))
    return results


def rate(results):
    return sum(r["success"] for r in results) / len(results) if results else 0.0


def print_table(results):
    # followed / avoided / guessed: how many episodes of the window chose their tactic each way (see choose_tactic).
    print("episodes   success  followed  avoided  guessed")
    for start in range(0, len(results), WINDOW):
        window = results[start:start + WINDOW]
        counts = {how: sum(r["how"] == how for r in window) for how in ("followed", "avoided", "guessed")}
        print("{:>4d}-{:<4d}   {:5.2f}   {:7d}  {:7d}  {:7d}".format(
            start + 1, start + len(window), rate(window), counts["followed"], counts["avoided"], counts["guessed"]))


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def verify_bank(client, bank, results):
    """Stats, listing and idempotency checks after the loop."""
    stats = client.stats(bank)
    print("\nbank stats:")
    print(json.dumps(stats, indent=2, sort_keys=True))
    check(isinstance(stats, dict) and isinstance(stats.get("memories"), int),
          "stats has no integer 'memories': {!r}".format(stats))

    listed = list(client.iter_memories(bank, page_size=25))   # small pages, so the cursor is exercised
    ids = [m.get("id") for m in listed]
    print("\nlisted {} memories through iter_memories (pages of 25)".format(len(listed)))
    check(len(listed) == stats["memories"],
          "iter_memories returned {} memories but stats says {}".format(len(listed), stats["memories"]))
    check(len(set(ids)) == len(ids), "iter_memories returned a memory twice")
    written = {r["memoryId"] for r in results}
    check(set(ids) == written, "listed ids differ from written ids: {} missing, {} unexpected".format(
        len(written - set(ids)), len(set(ids) - written)))

    last = results[-1]
    memory = client.get_memory(bank, last["memoryId"])
    check(memory.get("experience") == last["tactic"] and memory.get("intentText") == last["task"]
          and memory.get("success") == last["success"],
          "get_memory({}) does not match what was written: {!r}".format(last["memoryId"], memory))

    # Idempotency: the same write with the same key and body is a replay, not a second memory.
    key = str(uuid.uuid4())
    first = client.write(bank, "idempotency probe", False, intent_text="idempotency probe", idempotency_key=key)
    again = client.write(bank, "idempotency probe", False, intent_text="idempotency probe", idempotency_key=key)
    check(first["memoryId"] == again["memoryId"],
          "a replayed write made a second memory: {} then {}".format(first["memoryId"], again["memoryId"]))
    check(client.stats(bank)["memories"] == stats["memories"] + 1, "a replayed write was applied twice")
    client.delete_memory(bank, first["memoryId"])
    check(client.stats(bank)["memories"] == stats["memories"], "delete_memory did not remove the probe")
    print("idempotent replay and delete_memory checked")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=120, help="episodes to run (default 120, at least 6)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated world and agent (default 7)")
    parser.add_argument("--bank", default="python-example-" + uuid.uuid4().hex[:8],
                        help="bank to create and delete (default python-example-<random>)")
    parser.add_argument("--url", default=None, help="silo URL (default $MEMRL_URL or http://127.0.0.1:8080)")
    parser.add_argument("--key", default=None, help="API key (default $MEMRL_API_KEY or data/api-key.local)")
    parser.add_argument("--lam", type=float, default=None,
                        help="the bank's lambda, weight of Q in the ranking (default: the server's, 0.5); "
                             "0 ranks by similarity alone: the control, which learns much less")
    parser.add_argument("--keep", action="store_true", help="keep the bank instead of deleting it")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every episode")
    args = parser.parse_args(argv)
    if args.episodes < 6:
        parser.error("--episodes must be at least 6")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        client = MemRL(args.url, args.key or default_api_key([REPOSITORY]))
    except MemRLError as error:
        print("error: {}".format(error), file=sys.stderr)
        return 2
    rng = random.Random(args.seed)

    print("MemRL agent loop: {} episodes, seed {}, bank '{}' on {}".format(
        args.episodes, args.seed, args.bank, client.url))
    try:
        # No dimension or embedderId: the bank is made for the server's text embedder, so it takes query_text.
        #  - delta 0: every stored key passes Phase A's similarity gate. The default hashing embedder gives modest
        #    similarities between paraphrases, and the default gate (0.5) would leave most recalls empty.
        #  - qInitSuccess 1: a memory of a successful episode starts as "helps" (Q 1), one of a failure at Q 0.
        #    With 1/0 rewards and the default 0/0 start, a fresh success would tie with the failures written
        #    before it and stay buried under them; this way rewards only have to demote the successes that
        #    mislead on look-alike tasks, which is the learning this loop shows.
        options = {"delta": 0.0, "qInitSuccess": 1.0}
        if args.lam is not None:
            options["lambda"] = args.lam
        bank = client.create_bank(args.bank, options=options)
        # Creating an existing bank with the same spec returns it. Never run in (or delete) a bank in use.
        existing = client.stats(args.bank).get("memories")
        if existing:
            print("error: bank '{}' already exists and holds {} memories; pick another --bank (nothing was "
                  "changed)".format(args.bank, existing), file=sys.stderr)
            return 2
    except MemRLError as error:
        print("error: could not create bank '{}' on {}: {}".format(args.bank, client.url, error),
              file=sys.stderr)
        return 2
    print("bank created: embedder {}, dimension {}, {} shards, options {}\n".format(
        bank.get("embedderId"), bank.get("dimension"), bank.get("shardCount"),
        json.dumps(bank.get("options"), sort_keys=True)))

    failure = None
    try:
        results = run_episodes(client, args.bank, args.episodes, rng, args.verbose)
        print_table(results)
        verify_bank(client, args.bank, results)
        third = len(results) // 3
        first, last = rate(results[:third]), rate(results[-third:])
        print("\nsuccess rate: first third {:.2f}, last third {:.2f}".format(first, last))
        check(last > first, "the last third ({:.2f}) is not better than the first third ({:.2f})".format(last, first))
    except (CheckFailed, MemRLError) as error:
        failure = error
    finally:
        if not args.keep:
            try:
                client.delete_bank(args.bank)
                try:
                    client.get_bank(args.bank)
                    failure = failure or CheckFailed("bank '{}' still exists after delete_bank".format(args.bank))
                except NotFound:
                    pass
                print("bank '{}' deleted".format(args.bank))
            except MemRLError as error:
                failure = failure or error
                print("error: could not delete bank '{}': {}".format(args.bank, error), file=sys.stderr)

    if failure is not None:
        kind = "check failed" if isinstance(failure, CheckFailed) else "request failed"
        print("agent loop FAILED ({}): {}".format(kind, failure), file=sys.stderr)
        return 1
    print("agent loop OK: {} episodes, success first third {:.2f}, last third {:.2f}".format(
        len(results), first, last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
