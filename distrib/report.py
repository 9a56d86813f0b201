"""Text a person reads: the normalized release (check), the status of releases and their outbox."""

from __future__ import annotations

from typing import Any

from distrib.models import Release, StoredRelease, parse_iso_z
from distrib.timefmt import stamp, stamp_utc, stamps


def describe_release(release: Release) -> str:
    """The normalized release, every time in UTC and in each of the release's zones."""
    from distrib.timefmt import stamp_utc

    zones = release.show_timezones
    lines = [
        f"  id         {release.id}  (content {release.content_hash()[:12]})",
        f"  title      {release.title}",
    ]
    if release.reference:
        lines.append(f"  reference  {release.reference}")
    lines += [
        f"  language   {release.language}",
        f"  published  {stamps(release.published, zones)}",
        f"  zones      {', '.join(zones)} (times in the file default to {release.timezone})",
    ]
    if release.url:
        lines.append(f"  url        {release.url}")
    if release.summary:
        lines.append(f"  summary    {release.summary}")
    lines.append(f"  handles    {' '.join(release.handles) or '-'}")
    lines.append(f"  hashtags   {' '.join(release.hashtags) or '-'}")
    channels = ", ".join(release.channels) if release.channels is not None else "every configured channel"
    lines.append(f"  channels   {channels}")
    for event in release.events:
        lines.append(f"  event {event.id}: {event.title}  [{event.timezone}]")
        lines.append(f"    start    {stamps(event.start, zones)}")
        if event.end:
            lines.append(f"    end      {stamps(event.end, zones)}")
        lines.append(f"    location {event.location or '-'}")
        lines.append(f"    stream   {event.stream_url or '- (none given)'}")
    for deadline in release.deadlines:
        gates = f" (gates {deadline.event})" if deadline.event else ""
        lines.append(f"  deadline {deadline.id}: {deadline.title}{gates}  [{deadline.timezone}]")
        if deadline.date_only:
            lines.append(
                f"    due      {deadline.due_date.isoformat()}, end of day in {deadline.timezone} "
                f"(until {stamp_utc(deadline.due)})"
            )
        lines.append(f"    until    {stamps(deadline.due, zones)}")
        if deadline.how:
            lines.append(f"    how      {deadline.how}")
    for contact in release.contacts:
        parts = [p for p in (contact.name, contact.role, contact.phone, contact.email) if p]
        lines.append(f"  contact    {', '.join(parts)}")
    for media in release.media:
        lines.append(f"  media      {media.url} {media.type or ''}".rstrip())
    lines.append(f"  body       {len(release.body):,} characters")
    return "\n".join(lines)


def status(
    stored: list[StoredRelease], outbox: list[dict[str, Any]], versions: dict[str, Any], *, detailed: bool
) -> str:
    """Every release with its outbox counts; with `detailed`, every row and the version history."""
    if not stored:
        return "No releases stored yet. Queue one with: distrib queue FILE"
    lines = []
    for s in stored:
        r = s.release
        zone = r.show_timezones[0]
        lines.append(f"{r.id}  v{s.version}  {s.state.value}")
        lines.append(f"  {r.title}")
        lines.append(f"  published {stamp_utc(r.published)} ({stamp(r.published, zone)})")
        if s.cancel_reason:
            lines.append(f"  cancelled: {s.cancel_reason}")
        rows = [o for o in outbox if o["release_id"] == r.id]
        if rows:
            counts: dict[str, int] = {}
            for o in rows:
                counts[o["state"]] = counts.get(o["state"], 0) + 1
            lines.append("  outbox    " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
        shown = rows if detailed else [o for o in rows if o["state"] in ("uncertain", "failed")]
        for o in shown:
            lines.append("    " + _row(o))
        needs = [o for o in rows if o["state"] == "uncertain"]
        if needs:
            lines.append(
                f"  needs you: {len(needs)} uncertain; check the channel, then "
                "`distrib resolve KEY --sent` or `--resend`"
            )
        for v in versions.get(r.id, []):
            lines.append(
                f"  version {v['version']}: {v['state']} at {stamp_utc(v['queued_at'])} "
                f"(content {v['version_hash'][:12]})"
            )
    return "\n".join(lines)


def _row(o: dict[str, Any]) -> str:
    when = stamp_utc(parse_iso_z(o["sent_at"] if o["state"] == "sent" and o["sent_at"] else o["due"]))
    tail = o["remote_url"] if o["state"] == "sent" else (o["error"] or "")
    return f"{when}  {o['state']:<9} {o['channel']:<11} {o['kind']:<18} {tail}\n      key {o['key']}"
