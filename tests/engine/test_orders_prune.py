"""Long-running processes forget final orders; late repeats about them are dropped, not adopted."""
from venuelink.model import OrderState as S
from tests.engine.test_orders import make_mgr, req


class Clock:
    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> int:
        return self.t


async def test_prune_forgets_final_orders_after_retention_and_drops_late_repeats():
    clock = Clock()
    mgr, venue, rec = make_mgr(clock=clock)
    done = await mgr.place(req(qty="1"))
    venue.fill(done.client_order_id, "1")
    live = await mgr.place(req(qty="2"))
    assert done.state is S.FILLED and live.state is S.NEW
    assert mgr.prune(older_than_s=60) == 0          # first pass only notes when it became final
    clock.t += 30 * 10**9
    assert mgr.prune(older_than_s=60) == 0
    clock.t += 31 * 10**9
    assert mgr.prune(older_than_s=60) == 1
    assert done.client_order_id not in mgr.orders and live.client_order_id in mgr.orders
    n_updates, n_fills = len(rec.updates), len(rec.fills)
    # a late duplicate of the fill event for the forgotten order: dropped and counted, not adopted
    venue.emit(venue._update(venue.book[done.client_order_id], venue.fills[-1]))
    assert mgr.late_after_prune == 1 and done.client_order_id not in mgr.orders
    assert len(rec.updates) == n_updates and len(rec.fills) == n_fills
    # live orders are untouched and keep working
    venue.fill(live.client_order_id, "2")
    assert live.state is S.FILLED and mgr.pruned == 1
