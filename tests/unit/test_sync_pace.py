"""PolicyPace (mfsync.engine.sync_pace): when a sync folder's policy runs, on a real loop."""

import asyncio

from mfsync.engine.sync_pace import (
    EVALUATE_DELAY,
    EVALUATE_GAP,
    EVALUATE_GAP_REFILL,
    EVALUATE_SOON,
    PolicyPace,
)

RUN = 0.05  #: how long each run takes here (seconds)


class _Policy:
    def __init__(self) -> None:
        self.runs: list[float] = []
        self.low = False
        self.fail = False

    async def run(self) -> None:
        self.runs.append(asyncio.get_running_loop().time())
        await asyncio.sleep(RUN)
        if self.fail:
            raise RuntimeError("a bug in the policy")


async def test_a_change_after_a_quiet_moment_runs_at_once() -> None:
    policy = _Policy()
    pace = PolicyPace(policy.run, lambda: policy.low)
    start = asyncio.get_running_loop().time()
    pace.schedule()
    pace.schedule()  # (folded into the same run)
    await asyncio.sleep(EVALUATE_SOON + 0.1)
    assert len(policy.runs) == 1 and policy.runs[0] - start < EVALUATE_SOON + 0.05


async def test_a_full_window_spaces_runs_out_and_a_low_one_brings_the_next_forward() -> None:
    assert RUN * EVALUATE_GAP > 0.6 > RUN * EVALUATE_GAP_REFILL >= EVALUATE_DELAY
    policy = _Policy()
    pace = PolicyPace(policy.run, lambda: policy.low)
    pace.schedule()
    await asyncio.sleep(EVALUATE_SOON + RUN + 0.05)
    assert len(policy.runs) == 1
    pace.schedule()  # the window is full: not before RUN * EVALUATE_GAP after the last run
    await asyncio.sleep(0.4)
    assert len(policy.runs) == 1
    policy.low = True  # downloads finished: the window runs low
    pace.schedule()
    await asyncio.sleep(0.05)
    assert len(policy.runs) == 2
    assert policy.runs[1] - policy.runs[0] < RUN * EVALUATE_GAP
    pace.cancel()


async def test_a_failing_run_is_logged_and_the_next_still_comes(caplog) -> None:
    policy = _Policy()
    policy.fail = True
    policy.low = True
    pace = PolicyPace(policy.run, lambda: policy.low)
    pace.schedule()
    await asyncio.sleep(EVALUATE_SOON + RUN + 0.05)
    assert "sync evaluation failed" in caplog.text
    pace.schedule()
    await asyncio.sleep(RUN * EVALUATE_GAP_REFILL + 0.1)
    assert len(policy.runs) == 2
    pace.cancel()


async def test_cancel_stops_a_scheduled_run() -> None:
    policy = _Policy()
    pace = PolicyPace(policy.run, lambda: policy.low)
    pace.schedule()
    pace.cancel()
    await asyncio.sleep(EVALUATE_SOON + 0.05)
    assert policy.runs == []
