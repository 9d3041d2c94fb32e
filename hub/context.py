"""The Hub: every long-lived service of one process, wired together and started in order."""

from __future__ import annotations

import asyncio
import contextlib

from hub.batching import IngestBatcher
from hub.channel_directory import ChannelDirectory
from hub.config import Settings
from hub.crypto import KeyedHash, SecretBox
from hub.db import create_engine, read_only
from hub.dispatch import Dispatcher
from hub.jobs import InProcessJobs, JobFunction, JobQueue, RqJobs
from hub.listeners import LISTENERS
from hub.password_reset import (
    REQUEST_WINDOW_SECONDS,
    REQUESTS_PER_ADDRESS,
    REQUESTS_PER_WINDOW,
    PasswordResets,
)
from hub.pull import PullRunner
from hub.realtime import LocalBus, RedisBus
from hub.scheduler import run_scheduler
from hub.sending import send_message
from hub.sessions import SessionStore
from hub.shared_failures import FailureCounts, failure_counts
from hub.sign_in import SignInDesk
from hub.tokens import TokenKey
from hub.two_factor import TwoFactor
from hub.two_factor_changes import TwoFactorChanges
from hub.webhook_registration import register_all
from routing.round_robin import RoundRobinRouter
from storage.agent_loads import AgentLoadCounter
from storage.routing_reads import StoredPools
from timeline.conversation_service import ConversationService
from timeline.ingest import IngestPipeline
from timeline.link_tokens import LinkTokens


class Hub:
    """Composition root of one process (server, worker or CLI command)."""

    def __init__(
        self,
        settings: Settings,
        *,
        jobs_in_process: bool | None = None,
        scheduler_interval: float = 1.0,
        pull_channels: bool = True,
    ) -> None:
        self.settings = settings
        self.engine = create_engine(settings.database_url)
        self.reads = read_only(self.engine)
        self.secrets = SecretBox(settings.secret_key)
        hashes = KeyedHash(settings.secret_key)
        self.token_key = TokenKey(hashes)
        self.sessions = SessionStore(hashes, settings.sign_in)
        self.two_factor = TwoFactor(self.secrets, hashes)
        self.two_factor_changes = TwoFactorChanges(self.two_factor, self.sessions)

        def counts(purpose: str, max_failures: int, window_seconds: float) -> FailureCounts:
            return failure_counts(
                settings.redis_url,
                self.engine,
                hashes,
                purpose,
                max_failures=max_failures,
                window_seconds=window_seconds,
            )

        lockout = settings.sign_in.lockout_seconds
        sign_in_failures = counts("sign-in", settings.sign_in.max_failures, lockout)
        sign_in_address_failures = counts(
            "sign-in-address", settings.sign_in.max_address_failures, lockout
        )
        reset_requests = counts("reset-links", REQUESTS_PER_WINDOW, REQUEST_WINDOW_SECONDS)
        reset_address_requests = counts(
            "reset-links-address", REQUESTS_PER_ADDRESS, REQUEST_WINDOW_SECONDS
        )
        self._failure_counts = (
            sign_in_failures,
            sign_in_address_failures,
            reset_requests,
            reset_address_requests,
        )
        self.sign_in = SignInDesk(
            self.sessions, self.two_factor, sign_in_failures, sign_in_address_failures
        )
        self.password_resets = PasswordResets(
            hashes, self.sessions, reset_requests, reset_address_requests, settings.base_url
        )
        self.channels = ChannelDirectory(self.engine, self.secrets, settings.base_url)
        self.bus = RedisBus(settings.redis_url) if settings.redis_url else LocalBus()
        self.router = RoundRobinRouter(StoredPools())
        self.link_tokens = LinkTokens(settings.secret_key)
        self.pipeline = IngestPipeline(self.engine, self.router, self.bus, self.link_tokens)
        self.conversations = ConversationService(self.router, AgentLoadCounter())
        self.batcher = IngestBatcher(self.pipeline)
        self.job_functions: dict[str, JobFunction] = {"send_message": send_message}
        in_process = settings.redis_url is None or bool(jobs_in_process)
        self.jobs: JobQueue = (
            InProcessJobs(self.job_functions)
            if in_process
            else RqJobs(settings.redis_url, self.job_functions)
        )
        # Listeners run where jobs do: here in the embedded default, else beside the workers.
        self.dispatcher = Dispatcher(self.engine, self.bus, LISTENERS) if in_process else None
        self._scheduler_interval = scheduler_interval
        self.readers = (
            PullRunner(self, lease_seconds=settings.pull_lease_seconds) if pull_channels else None
        )
        self._scheduler: asyncio.Task[None] | None = None
        self._registering: asyncio.Task[None] | None = None
        self._scheduler_stopping = asyncio.Event()

    async def start(self, *, background: bool = True) -> None:
        """Start services; `background` adds the ingest batcher, job runners and the scheduler."""
        await self.bus.start()
        if background:
            self.batcher.start()
            await self.jobs.start(self)
            self._scheduler_stopping.clear()
            self._scheduler = asyncio.create_task(
                run_scheduler(self, self._scheduler_interval, self._scheduler_stopping)
            )
            if self.readers is not None:
                await self.readers.start()
            if self.dispatcher is not None:
                await self.dispatcher.start()
            # In the background: a provider slow to answer must not hold the hub's start up.
            self._registering = asyncio.create_task(register_all(self), name="register-webhooks")

    async def stop(self) -> None:
        if self._registering is not None:
            self._registering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._registering
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.readers is not None:
            await self.readers.stop()
        if self._scheduler is not None:
            self._scheduler_stopping.set()
            await self._scheduler
        await self.batcher.stop()
        await self.jobs.stop()
        await self.bus.stop()
        for counts in self._failure_counts:
            await counts.close()
        await self.channels.close()
        await self.engine.dispose()
