"""Queueing stores a release once per content, on every supported database."""

from distrib.models import Release
from distrib.store import Store
from tests.conftest import NOW


def test_queue_then_requeue_unchanged(store: Store, exomars: Release) -> None:
    first = store.queue(exomars, "f.md", "text", NOW)
    again = store.queue(exomars, "f.md", "text", NOW)
    assert (first.outcome, first.version) == ("new", 1)
    assert (again.outcome, again.version) == ("unchanged", 1)
    assert [s.release for s in store.releases()] == [exomars]
