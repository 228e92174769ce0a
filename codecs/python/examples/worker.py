"""A Python worker with temporal-envelope: codec, sealing failure converter and warrant header.

    python codecs/python/examples/worker.py --address 127.0.0.1:7233 --keyring ~/.temporal-envelope/keyring.json

Registers workflow ``PolyglotPyGrant`` and activity ``issueCredential`` on ``--task-queue``
(default polyglot-py). Prints ``worker polling <queue>`` once it polls; SIGINT or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from temporalio.worker import Worker

from example_options import add_options, codec_from, connect
from polyglot_activities import issue_credential
from polyglot_workflows import PolyglotPyGrant
from temporal_envelope import HeaderSealingWorkerInterceptor


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_options(parser)
    args = parser.parse_args()
    codec = codec_from(args)
    client = await connect(args, codec)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=args.task_queue,
        workflows=[PolyglotPyGrant],
        activities=[issue_credential],
        interceptors=[HeaderSealingWorkerInterceptor(codec)],
    ):
        print(f"worker polling {args.task_queue}", flush=True)
        await stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
