"""What the streams of one sync share, built once per `SourceFreshchat.streams()` call and handed to each of them.

A sync's streams share one rate budget, one HTTP session, one walk of the users, one Extract API client and one
plan of where conversations come from; the order they are built in here is the order they depend on each other.
"""

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Set, Tuple

import requests
from airbyte_cdk.sources.streams.call_rate import APIBudget, LimiterSession
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator
from requests.adapters import HTTPAdapter

from .config import FreshchatSettings
from .discovery.plan import ConversationDiscovery, Selection
from .discovery.walk import ParentWalk
from .extract import ExtractClient
from .progress import SyncProgress


def sync_session(settings: FreshchatSettings, api_budget: Optional[APIBudget]) -> Tuple[requests.Session, Mapping[str, Any]]:
    """One session per sync (a sync's streams share its rate budget), its pool sized to the requests a sync has in flight.

    The CDK gives every stream a session of its own, whose pool holds 10 connections for http and
    40 for https: the streams of one fan-out then open their own connections, each a TLS handshake,
    and 16 workers on a pool of 10 discard connections ("Connection pool is full"). A sync sends at
    most `num_workers` requests from the walk's workers plus one from the thread that reads the
    user list, so a pool of `num_workers + 2` never discards one.
    """
    session = LimiterSession(api_budget=api_budget or APIBudget(policies=[]))
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=settings.num_workers + 2)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.auth = TokenAuthenticator(settings.api_key)
    # requests re-reads the environment's proxy and CA settings on every request (a fifth of the CPU of a sync);
    # every request goes to one origin, so resolve them once and pass them along instead.
    environment = session.merge_environment_settings(settings.api_base, {}, None, None, None)
    session.trust_env = False
    return session, environment


@dataclass
class Sync:
    """One sync's shared parts. `budget` is None where no sync paces requests (check's probe); `selection` is empty
    outside `read` (check, discover, a stream built alone), so nothing is planned and no report job is queued."""

    settings: FreshchatSettings
    budget: Optional[APIBudget] = None
    selection: Selection = field(default_factory=dict)
    session: requests.Session = field(init=False)
    environment: Mapping[str, Any] = field(init=False)
    progress: SyncProgress = field(init=False)
    walk: ParentWalk = field(init=False)
    extract: ExtractClient = field(init=False)
    discovery: ConversationDiscovery = field(init=False)
    # Streams whose read ended on a 403 of their own endpoint: the sync goes on with the others.
    failed_alone: Set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.session, self.environment = sync_session(self.settings, self.budget)
        waits = getattr(self.budget, "waits_text", None)
        self.progress = SyncProgress(waits) if waits else SyncProgress()
        self.walk = ParentWalk(self)
        self.extract = ExtractClient(self.settings, self.budget)
        self.discovery = ConversationDiscovery(self)  # plans from the selection, and may queue the change feed's jobs
