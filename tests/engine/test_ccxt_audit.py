"""The CCXT tier's REST audit of books whose feed cannot show a lost update
(venuelink.ccxt_tier.audit): which levels it may compare, on a stepped clock."""
from venuelink.ccxt_tier.audit import BookAudit


def book(bids, asks):
    return {"bids": [list(x) for x in bids], "asks": [list(x) for x in asks]}


def audit(levels=3):
    now = [100.0]
    a = BookAudit(margin_s=2.0, levels=levels, clock=lambda: now[0])
    return a, now


def test_a_level_the_stream_left_alone_must_equal_the_venues():
    a, now = audit()
    a.observe("X", book([(10, 1), (9, 2)], [(11, 1), (12, 5)]))
    now[0] += 5
    assert a.ready("X")
    asked = now[0]
    assert a.compare("X", book([(10, 1), (9, 2)], [(11, 1), (12, 5)]), asked) == ""
    # a size the stream never got, a level the stream never removed, one it never added
    assert "bid 9" in a.compare("X", book([(10, 1), (9, 3)], [(11, 1), (12, 5)]), asked)
    assert "ask 12" in a.compare("X", book([(10, 1), (9, 2)], [(11, 1)]), asked)
    assert "bid 9.5" in a.compare("X", book([(10, 1), (9.5, 4), (9, 2)], [(11, 1), (12, 5)]), asked)


def test_a_level_changed_near_the_request_is_no_evidence():
    a, now = audit()
    a.observe("X", book([(10, 1), (9, 2)], [(11, 1)]))
    now[0] += 5
    a.observe("X", book([(10, 1), (9, 7)], [(11, 1)]))      # the stream moved bid 9 just now
    now[0] += 0.5
    asked = now[0]
    assert a.compare("X", book([(10, 1), (9, 2)], [(11, 1)]), asked) == ""
    # once quiet for the margin before the request, it counts
    now[0] += 3
    assert "bid 9" in a.compare("X", book([(10, 1), (9, 2)], [(11, 1)]), now[0])


def test_only_the_range_both_books_cover_is_compared():
    a, now = audit(levels=3)
    a.observe("X", book([(10, 1), (9, 1), (8, 1)], [(11, 1)]))
    now[0] += 5
    # the venue's answer is cut at 3 levels as well, but deeper: 7 is beyond the stream's cut
    assert a.compare("X", book([(10, 1), (9, 1), (8, 1)], [(11, 1)]), now[0]) == ""
    a2, now2 = audit(levels=3)
    a2.observe("X", book([(10, 1), (9, 1), (8, 1)], [(11, 1)]))
    now2[0] += 5
    # the venue's answer stops at 9 (3 levels with 9.5): 8 lies beyond it, not compared
    assert a2.compare("X", book([(10, 1), (9.5, 1), (9, 1)], [(11, 1)]), now2[0]).startswith("REST audit: bid 9.5")
    assert "bid 8" not in a2.compare("X", book([(10, 1), (9.7, 1), (9.5, 1)], [(11, 1)]), now2[0])


def test_a_new_book_since_the_request_or_too_fresh_a_book_is_not_compared():
    a, now = audit()
    a.observe("X", book([(10, 1)], [(11, 1)]))
    now[0] += 1
    assert not a.ready("X")
    asked = now[0]
    assert a.compare("X", book([(10, 9)], [(11, 1)]), asked) == ""
    now[0] += 5
    asked = now[0]
    a.reset("X")                                             # invalidated and subscribed again
    a.observe("X", book([(10, 1)], [(11, 1)]))
    assert a.compare("X", book([(10, 9)], [(11, 1)]), asked) == ""
