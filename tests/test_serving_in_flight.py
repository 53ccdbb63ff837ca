"""The count of requests in flight: a function run "when idle" runs only at a moment without
requests, and requests starting meanwhile wait for it to end."""

from __future__ import annotations

import threading
import time

from leadscore.serving.in_flight import InFlight


def test_runs_only_when_no_request_is_in_flight() -> None:
    in_flight = InFlight()
    in_flight.enter()
    ran: list[int] = []
    assert not in_flight.when_idle(lambda: ran.append(in_flight.count), timeout=0.1)
    assert ran == []
    threading.Timer(0.2, in_flight.leave).start()
    assert in_flight.when_idle(lambda: ran.append(in_flight.count), timeout=10)
    assert ran == [0]


def test_a_request_starting_meanwhile_waits_for_the_end() -> None:
    in_flight = InFlight()
    running, entered = threading.Event(), threading.Event()
    order: list[str] = []

    def act() -> None:
        running.set()
        time.sleep(0.3)
        order.append("acted")

    def request() -> None:
        running.wait(10)
        in_flight.enter()
        order.append("entered")
        entered.set()
        in_flight.leave()

    thread = threading.Thread(target=request)
    thread.start()
    assert in_flight.when_idle(act, timeout=10)
    thread.join(10)
    assert entered.is_set() and order == ["acted", "entered"] and in_flight.count == 0
