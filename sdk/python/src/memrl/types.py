"""The API's JSON shapes (docs/http-api.md, "Shapes"), as TypedDicts with the wire's camelCase names.

Responses are the decoded JSON itself, typed: nothing is copied, and a member a newer server adds is still there
(``recall["memories"][0].get("newMember")``). Request bodies are built by the client methods; the ``*Request``
types document them, and every method that sends a body takes ``extra`` — members merged into the body as given —
so members the API grows can be sent before this SDK names them. The server refuses members it
does not know (400, ``reason: "unknown-member"``), so a typo in ``extra`` is never silently dropped.
"""

from __future__ import annotations

from typing import Dict, List, Optional, TypedDict, Union

__all__ = [
    "Problem", "Coverage", "BankOptions", "IndexSettings", "Bank", "BankSummary", "BankList", "RecalledMemory",
    "Recall", "MemoryQ", "RewardResult", "WriteResult", "Memory", "MemoryPage", "ShardStats", "Distribution",
    "BankStats", "Calibration", "CreateBankRequest", "RecallRequest", "RewardRequest", "WriteRequest", "Scope",
    "Metadata", "Filter", "Deleted",
]

class RetentionSettings(TypedDict, total=False):
    """A bank's retention policy (docs/retention.md); every rule off unless set. Durations in seconds."""
    lowQThreshold: Optional[float]  # archive a memory whose Q is at or below this ...
    lowQMinVisits: int  # ... once it has this many visits (default 3)
    idleWindowSeconds: Optional[float]  # archive a memory not rewarded, written or restored for this long
    protectQ: Optional[float]  # memories with Q at or above this are exempt from the idle rule
    maxActive: Optional[int]  # at most this many active memories, lowest utility archived first
    retentionPeriodSeconds: float  # how long an archived memory stays restorable (default 30 days)
    maxPerRun: int  # archives and purges per run (default 1000)


# `lambda` is a Python keyword, so the option types use the functional syntax.
BankOptions = TypedDict("BankOptions", {
    "alpha": float,
    "lambda": float,
    "k1": int,
    "k2": int,
    "delta": float,
    "qInitSuccess": float,
    "qInitFailure": float,
    "qFloor": Optional[float],
    "qMin": Optional[float],
    "epsilon": float,
    "mergeThreshold": float,
    "maxMemoriesPerKey": int,
    "similarityNormalization": Union[str, int],
    "similarityMean": float,
    "similarityStdDev": float,
    # The bank's reward range (default [-1, 1]; None: unbounded, banks stored before ranges). qInit defaults to its midpoint.
    "rewardMin": Optional[float],
    "rewardMax": Optional[float],
    "mergeAcrossScopes": bool,
    # None: no retention policy (never archives on its own; archived memories restorable for 30 days).
    "retention": Optional[RetentionSettings],
}, total=False)


class Scope(TypedDict, total=False):
    """Who a memory belongs to (docs/scopes.md); every field optional, each 1–128 characters."""
    userId: str
    agentId: str
    sessionId: str
    runId: str


# Free string key–values stored with a memory: at most 16, keys of [A-Za-z0-9_.-] up to 64 characters, values up to
# 256, 4 KiB in all (the server refuses more, naming ``metadata.<key>``).
Metadata = Dict[str, str]

# A recall's, listing's or delete's filter: fields userId, agentId, sessionId, runId or ``metadata.<key>``, each a
# string (equality) or a list of strings (set membership), combined with AND. OR across fields is not supported.
Filter = Dict[str, Union[str, List[str]]]


class Deleted(TypedDict):
    deleted: int


class Problem(TypedDict, total=False):
    """An error's problem+json document (RFC 9457) with the API's members."""
    type: str
    title: str
    status: int
    detail: str
    instance: str
    field: str
    expected: str
    actual: str
    reason: str
    quota: str
    limit: int
    current: int


class Coverage(TypedDict):
    shardsAnswered: int
    shardsTotal: int


class IndexSettings(TypedDict, total=False):
    m: int
    efConstruction: int
    efSearch: int
    exact: bool


class Bank(TypedDict):
    name: str
    dimension: int
    embedderId: str
    shardCount: int
    version: int
    createdAt: str
    options: BankOptions
    index: IndexSettings


class BankSummary(TypedDict):
    name: str
    memories: int
    textBytes: int


class BankList(TypedDict):
    banks: List[BankSummary]


class RecalledMemory(TypedDict):
    id: str
    similarity: float
    q: float
    zSim: float
    zQ: float
    score: float
    success: bool
    experience: str
    intentText: str
    scope: Optional[Scope]
    metadata: Optional[Metadata]


class Recall(TypedDict):
    token: str
    coverage: Coverage
    poolSize: int
    explored: bool
    memories: List[RecalledMemory]


class MemoryQ(TypedDict):
    id: str
    q: float
    visits: int


class RewardResult(TypedDict):
    updated: List[MemoryQ]


class WriteResult(TypedDict):
    memoryId: str
    createdKey: bool
    q: float


class Memory(TypedDict):
    id: str
    intentText: str
    experience: str
    success: bool
    q: float
    visits: int
    lastReward: Optional[float]
    createdAt: str
    updatedAt: str
    scope: Optional[Scope]
    metadata: Optional[Metadata]
    revision: int  # how many edits, archives and restores it has had (0: never changed)
    archivedAt: Optional[str]  # set while archived: out of recall, restorable (docs/retention.md)
    restoredAt: Optional[str]  # when it was last restored from the archive, if ever
    expiresAt: Optional[str]  # when its time to live ends (the first retention run after it archives it)


class RetentionRun(TypedDict):
    """What a retention run did (docs/retention.md)."""
    purged: int
    archived: int
    more: bool  # it stopped at maxPerRun with work left: run again
    at: str  # the run's clock


class MemoryPage(TypedDict):
    memories: List[Memory]
    nextCursor: Optional[str]


class ShardStats(TypedDict):
    shard: int
    keys: int
    memories: int


class Distribution(TypedDict):
    count: int
    mean: float
    min: float
    max: float
    p50: float
    p90: float
    p99: float
    edges: List[float]
    counts: List[int]


class BankStats(TypedDict):
    keys: int
    memories: int
    shards: List[ShardStats]
    qMean: float
    qMin: float
    qMax: float
    qHistogramEdges: List[float]
    qHistogram: List[int]
    coverage: Coverage
    qDistribution: Distribution
    visitsDistribution: Distribution
    ageSecondsDistribution: Distribution


class Calibration(TypedDict):
    delta: float
    similarityMean: float
    similarityStdDev: float
    sampleSize: int
    pairCount: int
    applied: bool
    bank: Bank


# ---- request bodies (what the client methods send) ----------------------------------------------------------------

class CreateBankRequest(TypedDict, total=False):
    name: str
    dimension: int
    embedderId: str
    shardCount: int
    options: BankOptions
    index: IndexSettings


RecallRequest = TypedDict("RecallRequest", {
    "query": List[float],
    "queryText": str,
    "embedderId": str,
    "k1": int,
    "k2": int,
    "lambda": float,
    "delta": float,
    "requireFullCoverage": bool,
    "filter": Filter,
}, total=False)


class RewardRequest(TypedDict, total=False):
    token: str
    reward: float
    memoryIds: List[str]


class WriteRequest(TypedDict, total=False):
    intent: List[float]
    intentText: str
    embedderId: str
    experience: str
    success: bool
    recallToken: str
    scope: Scope
    metadata: Metadata

