"""Smoke test of the example extension, run by examples/build_and_test.sh."""
import asyncio
import sys
import time

import countdown


async def main():
    t0 = time.monotonic()
    assert await countdown.countdown(3, 0.02) == 0
    assert time.monotonic() - t0 >= 0.055
    task = asyncio.create_task(countdown.countdown(1000, 0.01))
    await asyncio.sleep(0.05)
    task.cancel()
    left = await task              # the cancel handle returns early
    assert 0 < left < 1000, left


asyncio.run(main())
print("countdown example: ok")
sys.exit(0)
