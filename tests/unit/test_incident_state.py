"""The incident state machine: one line of statuses, the furthest wins, cancel only before the restore."""
import itertools

import pytest

from server.incidents import state
from server.incidents.models import STATUSES


@pytest.mark.parametrize("current, proposed, wins", [
    ("reported", "assigned", "assigned"),
    ("assigned", "en_route", "en_route"),
    ("en_route", "assigned", "en_route"),        # a late "accepted" never moves a job back
    ("on_site", "en_route", "on_site"),
    ("assigned", "restored", "restored"),        # steps may be skipped (no signal on the way)
    ("on_site", "cancelled", "cancelled"),       # the dispatcher's cancel wins before the restore…
    ("cancelled", "on_site", "cancelled"),       # …however late the crew's phone syncs
    ("cancelled", "en_route", "cancelled"),
    ("cancelled", "restored", "restored"),       # the power is back: a restore beats a cancel
    ("restored", "cancelled", "restored"),       # and a cancel cannot undo it
    ("closed", "restored", "closed"),
    ("restored", "closed", "closed"),
])
def test_the_furthest_status_wins(current, proposed, wins):
    assert state.furthest(current, proposed) == wins


def test_furthest_is_a_merge_order_does_not_matter():
    for a, b, c in itertools.product(state.ORDER, repeat=3):
        assert state.furthest(a, b) == state.furthest(b, a)
        assert state.furthest(state.furthest(a, b), c) == state.furthest(a, state.furthest(b, c))
        assert state.furthest(a, a) == a
        assert state.is_forward(a, state.furthest(a, b))


def test_every_status_of_the_table_has_its_place_and_time_column():
    assert set(state.ORDER) == set(STATUSES) == set(state.TIME_COLUMN)


@pytest.mark.parametrize("status, cancel, assign, close, open_", [
    ("reported", True, True, False, True),
    ("assigned", True, True, False, True),
    ("en_route", True, True, False, True),
    ("on_site", True, True, False, True),
    ("cancelled", False, False, False, False),
    ("restored", False, False, True, False),
    ("closed", False, False, False, False),
])
def test_what_the_dispatcher_may_do_in_each_status(status, cancel, assign, close, open_):
    assert (state.can_cancel(status), state.can_assign(status), state.can_close(status),
            state.is_open(status)) == (cancel, assign, close, open_)


def test_an_unknown_status_is_a_mistake_not_a_rank():
    with pytest.raises(ValueError, match="unknown incident status"):
        state.rank("fixed")
