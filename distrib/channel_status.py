"""`distrib channels` and `distrib channels check`: which channels are on, and do their credentials work."""

from __future__ import annotations

from dataclasses import dataclass

import channels
from channels.base import Checker, Sender
from channels.errors import ChannelError
from distrib.config import Settings
from distrib.errors import DistribError


@dataclass(frozen=True, slots=True)
class ChannelState:
    name: str
    status: str  # enabled | configured | not configured
    detail: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    outcome: str  # ok | FAILED | skipped
    detail: str

    @property
    def failed(self) -> bool:
        return self.outcome == "FAILED"


def states(settings: Settings) -> list[ChannelState]:
    """Every channel in registry order; setting names only, never their values."""
    enabled = set(channels.enabled(None, settings))
    configured = set(channels.configured(settings))
    out: list[ChannelState] = []
    for name, cls in channels.REGISTRY.items():
        if name not in configured and name not in enabled:
            missing = cls.missing_settings(settings)
            if name == channels.DEFAULT_CHANNEL:
                detail = "set DISTRIB_OUTBOX_DIR to also write every post to files"
            else:
                detail = f"missing {' '.join(missing)}" if missing else "not configured"
            out.append(ChannelState(name, "not configured", detail))
            continue
        try:
            channel = channels.build(name, settings)
        except DistribError as exc:
            out.append(ChannelState(name, "not configured", f"bad setting: {exc}"))
            continue
        detail = channel.describe()
        if name not in configured:
            detail += " (the default while no other channel is configured)"
        if isinstance(channel, Sender):
            out.append(ChannelState(name, "enabled", detail.strip()))
        else:
            out.append(ChannelState(name, "configured", "this version cannot send to it yet"))
    return out


def listing(settings: Settings) -> str:
    rows = states(settings)
    width = max(len(r.name) for r in rows)
    lines = [f"{r.name:<{width}}  {r.status:<14}  {r.detail}".rstrip() for r in rows]
    on = [r.name for r in rows if r.status == "enabled"]
    lines.append("")
    lines.append(f"enabled: {', '.join(on)}")
    return "\n".join(lines)


def check_all(settings: Settings) -> list[CheckResult]:
    """Each enabled channel's harmless call (X get_me, Telegram getMe, a writable outbox-dir)."""
    results: list[CheckResult] = []
    for state in states(settings):
        if state.status == "not configured":
            continue
        if state.status != "enabled":
            results.append(CheckResult(state.name, "skipped", state.detail))
            continue
        channel = channels.build(state.name, settings)
        if not isinstance(channel, Checker):
            results.append(CheckResult(state.name, "skipped", "nothing to check"))
            continue
        try:
            results.append(CheckResult(state.name, "ok", channel.check()))
        except ChannelError as exc:
            results.append(CheckResult(state.name, "FAILED", str(exc)))
        except Exception as exc:  # a bug or an unmapped library error: still one line, never a traceback
            results.append(CheckResult(state.name, "FAILED", f"unexpected {type(exc).__name__}"))
    return results


def check_report(results: list[CheckResult]) -> str:
    width = max((len(r.name) for r in results), default=0)
    lines = [f"{r.name:<{width}}  {r.outcome:<7} {r.detail}".rstrip() for r in results]
    failed = sum(r.failed for r in results)
    lines.append("")
    lines.append(f"{failed} of {len(results)} failed" if failed else f"all {len(results)} ok")
    return "\n".join(lines)
