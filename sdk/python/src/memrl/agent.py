"""The MemRL step for an agent: recall → act → reward → write, as one call.

    loop = AgentLoop(MemRL(), "support")
    episode = loop.run_episode("I forgot my password", act)   # act(memories) -> Outcome(experience, success)

``act`` gets the recalled memories (best first; empty when nothing passes the bank's similarity gate, and the agent then
works without memory, as in the paper) and returns what it did and how it went. The loop rewards every recalled memory
with the outcome's reward (each was in the agent's context, so each shares the credit) and writes the episode as a new
memory, keyed by the task text and carrying the recall token. Each call retries with its own Idempotency-Key, so a
retried reward or write applies once.

With ``scope`` (e.g. ``{"userId": "u-7"}``) the loop recalls only that scope's memories (a filter of every field the
scope sets) and writes the episode with that scope and ``metadata``, as the .NET AgentLoop does: one user's episodes
never inform another's.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Sequence, Union

from .aio import AsyncMemRL
from .client import MemRL
from . import _calls
from .types import Metadata, Recall, RecalledMemory, RewardResult, Scope, WriteResult

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


def _scoped(recall_options: Mapping[str, Any] | None, scope: Mapping[str, Any] | None) -> dict[str, Any]:
    """The recall options with the scope's filter ANDed in: a caller's own ``filter`` (say on metadata) still applies,
    and a field both name must agree, else the loop would recall outside its scope."""
    options = dict(recall_options or {})
    own = _calls.scope_filter(scope)
    if own:
        given = dict(options.get("filter") or {})
        for field, value in own.items():
            if field in given and given[field] != value:
                raise ValueError(f"recall_options filter.{field} is {given[field]!r} but the loop's scope says "
                                 f"{value!r}; leave it out of the filter.")
            given[field] = value
        options["filter"] = given
    return options


Act = Callable[[Sequence[RecalledMemory]], Outcome]
AsyncAct = Callable[[Sequence[RecalledMemory]], Union[Outcome, Awaitable[Outcome]]]


class AgentLoop:
    """Runs episodes against one bank. ``write=False`` rewards without storing the episode (e.g. for evaluation);
    ``recall_options`` are passed to every recall (``k1``, ``k2``, ``lam``, ``delta``, ``extra`` …); ``scope`` limits
    recall to that scope and is written with each episode, with ``metadata``."""

    def __init__(self, client: MemRL, bank: str, *, write: bool = True,
                 recall_options: Mapping[str, Any] | None = None, scope: Scope | Mapping[str, Any] | None = None,
                 metadata: Metadata | Mapping[str, str] | None = None) -> None:
        self.client = client
        self.bank = bank
        self.write = write
        self.scope = _calls.scope_of(scope)
        self.metadata = dict(metadata) if metadata is not None else None
        self.recall_options = _scoped(recall_options, self.scope)

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
                                        scope=self.scope, metadata=self.metadata,
                                        **({"intent": intent} if intent is not None else {"intent_text": task}))
        return Episode(task, recall, outcome, rewarded, written)


class AsyncAgentLoop:
    """:class:`AgentLoop` over :class:`AsyncMemRL`; ``act`` may be a plain function or a coroutine function."""

    def __init__(self, client: AsyncMemRL, bank: str, *, write: bool = True,
                 recall_options: Mapping[str, Any] | None = None, scope: Scope | Mapping[str, Any] | None = None,
                 metadata: Metadata | Mapping[str, str] | None = None) -> None:
        self.client = client
        self.bank = bank
        self.write = write
        self.scope = _calls.scope_of(scope)
        self.metadata = dict(metadata) if metadata is not None else None
        self.recall_options = _scoped(recall_options, self.scope)

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
                scope=self.scope, metadata=self.metadata, **({"intent": intent} if intent is not None else {"intent_text": task}))
        return Episode(task, recall, outcome, rewarded, written)
