"""The MemRL step for an agent: recall → act → reward → write, as one call.

    loop = AgentLoop(MemRL(), "support")
    episode = loop.run_episode("I forgot my password", act)   # act(memories) -> Outcome(experience, success)

``act`` gets the recalled memories (best first; empty when nothing passes the bank's similarity gate, and the agent then
works without memory, as in the paper) and returns what it did and how it went. The loop rewards every recalled memory
with the outcome's reward (each was in the agent's context, so each shares the credit) and writes the episode as a new
memory, keyed by the task text and carrying the recall token. Each call retries with its own Idempotency-Key, so a
retried reward or write applies once.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Sequence, Union

from .aio import AsyncMemRL
from .client import MemRL
from .types import Recall, RecalledMemory, RewardResult, WriteResult

__all__ = ["Outcome", "Episode", "AgentLoop", "AsyncAgentLoop"]


@dataclass(frozen=True)
class Outcome:
    """What the agent did (``experience``, stored as the memory's text), whether it worked, and the reward;
    ``reward`` defaults to 1.0 for a success and 0.0 for a failure."""

    experience: str
    success: bool
    reward: float | None = None

    @property
    def value(self) -> float:
        return self.reward if self.reward is not None else (1.0 if self.success else 0.0)


@dataclass(frozen=True)
class Episode:
    """One step: the recall, the outcome, the reward's result (None when nothing was recalled) and the write's
    (None when the loop does not write)."""

    task: str
    recall: Recall
    outcome: Outcome
    rewarded: RewardResult | None
    written: WriteResult | None

    @property
    def memories(self) -> list[RecalledMemory]:
        return self.recall.get("memories") or []


Act = Callable[[Sequence[RecalledMemory]], Outcome]
AsyncAct = Callable[[Sequence[RecalledMemory]], Union[Outcome, Awaitable[Outcome]]]


class AgentLoop:
    """Runs episodes against one bank. ``write=False`` rewards without storing the episode (e.g. for evaluation);
    ``recall_options`` are passed to every recall (``k1``, ``k2``, ``lam``, ``delta``, ``extra`` …)."""

    def __init__(self, client: MemRL, bank: str, *, write: bool = True,
                 recall_options: Mapping[str, Any] | None = None) -> None:
        self.client = client
        self.bank = bank
        self.write = write
        self.recall_options = dict(recall_options or {})

    def run_episode(self, task: str, act: Act, *, query: Sequence[float] | None = None,
                    intent: Sequence[float] | None = None) -> Episode:
        """Recalls by ``query`` (a vector) when given, else by the task text; writes under ``intent`` (a vector) when
        given, else the task text."""
        if query is not None:
            recall = self.client.recall(self.bank, query=query, **self.recall_options)
        else:
            recall = self.client.recall(self.bank, query_text=task, **self.recall_options)
        memories = recall.get("memories") or []
        outcome = act(memories)
        rewarded = self.client.reward(self.bank, recall["token"], outcome.value) if memories else None
        written = None
        if self.write:
            written = self.client.write(self.bank, outcome.experience, outcome.success, recall_token=recall["token"],
                                        **({"intent": intent} if intent is not None else {"intent_text": task}))
        return Episode(task, recall, outcome, rewarded, written)


class AsyncAgentLoop:
    """:class:`AgentLoop` over :class:`AsyncMemRL`; ``act`` may be a plain function or a coroutine function."""

    def __init__(self, client: AsyncMemRL, bank: str, *, write: bool = True,
                 recall_options: Mapping[str, Any] | None = None) -> None:
        self.client = client
        self.bank = bank
        self.write = write
        self.recall_options = dict(recall_options or {})

    async def run_episode(self, task: str, act: AsyncAct, *, query: Sequence[float] | None = None,
                          intent: Sequence[float] | None = None) -> Episode:
        if query is not None:
            recall = await self.client.recall(self.bank, query=query, **self.recall_options)
        else:
            recall = await self.client.recall(self.bank, query_text=task, **self.recall_options)
        memories = recall.get("memories") or []
        result = act(memories)
        outcome = await result if inspect.isawaitable(result) else result
        rewarded = await self.client.reward(self.bank, recall["token"], outcome.value) if memories else None
        written = None
        if self.write:
            written = await self.client.write(
                self.bank, outcome.experience, outcome.success, recall_token=recall["token"],
                **({"intent": intent} if intent is not None else {"intent_text": task}))
        return Episode(task, recall, outcome, rewarded, written)
