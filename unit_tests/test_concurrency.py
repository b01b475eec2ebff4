"""ordered_parallel_map: the walk's thread helper, in input order, bounded read-ahead, nothing left running."""

import threading

import pytest

from source_freshchat.concurrency import ordered_parallel_map


@pytest.mark.parametrize("workers", [1, 3])
def test_ordered_parallel_map_keeps_input_order_and_calls_each_item_once(workers):
    seen = []

    def work(item):
        seen.append(item)
        return item * 10

    assert list(ordered_parallel_map(work, range(20), workers)) == [item * 10 for item in range(20)]
    assert sorted(seen) == list(range(20))


def test_an_error_in_one_item_is_raised_in_order():
    def work(item):
        if item == 5:
            raise ValueError("item 5")
        return item

    results = ordered_parallel_map(work, range(10), 3)
    assert [next(results) for _ in range(5)] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="item 5"):
        next(results)


@pytest.mark.parametrize("workers", [2, 3])
def test_the_input_is_read_two_items_per_worker_ahead(workers):
    """Enough to keep every worker busy, and no more: a long user list is never held in memory."""
    read = []

    def items():
        for item in range(100):
            read.append(item)
            yield item

    results = ordered_parallel_map(lambda item: item, items(), workers)
    assert next(results) == 0
    assert len(read) == 2 * workers
    results.close()


def test_stopping_early_cancels_the_work_not_started_and_leaves_no_thread_behind():
    started = []
    threads = set()

    def work(item):
        started.append(item)
        threads.add(threading.current_thread().name)
        if item:
            threading.Event().wait(0.3)  # items 1 and 2 are still running when the reader stops
        return item

    results = ordered_parallel_map(work, range(10), 2)
    assert next(results) == 0
    results.close()
    assert set(started) <= {0, 1, 2}  # item 3 was submitted but never started
    assert threads and all(name.startswith("freshchat") for name in threads)  # named, so a thread dump shows whose they are
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("freshchat")]
