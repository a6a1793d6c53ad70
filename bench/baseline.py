"""The yardstick for the runner's drain rate: a plain aiohttp loop, nothing else.

The same requests (method, URL, headers, JSON body) with the same concurrency
as the runner's workers, but no queue, no database, no pacing, no classification:
what one Python process can push through aiohttp to the same sandbox.

Run as a process of its own, like the runner, so both pay for one interpreter:
``python bench/baseline.py URL CAMPAIGN WORKERS FILE`` prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from common import API_KEY, USER

PATH = "/ca_apis/deleteCampaignData"


async def worker(
    session: aiohttp.ClientSession, url: str, campaign: str, numbers: Iterator[str]
) -> int:
    headers = {"apiKey": API_KEY, "Content-Type": "application/json"}
    sent = 0
    for number in numbers:
        body = json.dumps({"campaignName": campaign, "phoneNumber": number, "userName": USER})
        async with session.delete(url, data=body.encode(), headers=headers) as response:
            await response.read()
        sent += 1
    return sent


async def drain(url: str, campaign: str, workers: int, numbers: list[str]) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector) as session:
        shared = iter(numbers)  # workers take the next number in turn
        start = time.perf_counter()
        counts = await asyncio.gather(
            *(worker(session, url + PATH, campaign, shared) for _ in range(workers))
        )
        seconds = time.perf_counter() - start
    return {"requests": sum(counts), "seconds": seconds}


def main(argv: list[str]) -> None:
    url, campaign, workers, path = argv
    numbers = Path(path).read_text(encoding="utf-8").split()
    print(json.dumps(asyncio.run(drain(url, campaign, int(workers), numbers))))


if __name__ == "__main__":
    main(sys.argv[1:])
