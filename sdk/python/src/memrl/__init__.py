"""Python SDK for the MemRL.Cluster HTTP/JSON API (docs/http-api.md), standard library only.

    from memrl import MemRL

    client = MemRL()                                  # MEMRL_URL / MEMRL_API_KEY, or the silo's data/api-key.local
    client.create_bank("support")
    recall = client.recall("support", query_text="I forgot my password")
    client.reward("support", recall["token"], 1.0)
    client.write("support", "Sent a reset link.", True, intent_text="I forgot my password",
                 recall_token=recall["token"])
"""

from ._http import DEFAULT_URL, RetryPolicy, default_api_key, default_url
from ._version import __version__
from .agent import AgentLoop, AsyncAgentLoop, Episode, Outcome
from .aio import AsyncMemRL
from .client import MemRL
from .errors import (Conflict, ConnectionFailed, Forbidden, HeadersTooLarge, InvalidRequest, MemRLError,
                     MethodNotAllowed, NotFound, PayloadTooLarge, QuotaExceeded, RateLimited, RewardConflict,
                     ServerError, Unauthorized, Unavailable, UnsupportedMediaType)

__all__ = [
    "__version__",
    "MemRL", "AsyncMemRL", "RetryPolicy", "AgentLoop", "AsyncAgentLoop", "Outcome", "Episode",
    "MemRLError", "ConnectionFailed", "InvalidRequest", "Unauthorized", "Forbidden", "QuotaExceeded", "NotFound",
    "MethodNotAllowed", "Conflict", "RewardConflict", "PayloadTooLarge", "UnsupportedMediaType", "RateLimited",
    "HeadersTooLarge", "Unavailable", "ServerError", "default_url", "default_api_key", "DEFAULT_URL",
]
