"""Start a workflow with a JSON argument and a sealed warrant header, optionally signal it, wait,
and print its result as JSON on stdout.

    python codecs/python/examples/client.py --arg '{"email": "ada@example.com"}' \\
        --warrant 'act-for:ada' --signal approve --signal-arg '{"approver": "bob"}'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import traceback
import uuid
from typing import Any

from example_options import add_options, codec_from, connect
from temporal_envelope import HeaderSealingClientInterceptor


def json_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err}") from None


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_options(parser)
    parser.add_argument("--workflow-type", default="PolyglotPyGrant", help="workflow type to start (default PolyglotPyGrant)")
    parser.add_argument("--workflow-id", default=None, help="workflow id (default polyglot-py-<random>)")
    parser.add_argument("--arg", type=json_arg, default={}, help="the workflow's one argument, JSON (default {})")
    parser.add_argument("--warrant", default=None, help="warrant string, sent in the sealed 'warrant' header")
    parser.add_argument("--signal", default=None, help="signal to send after starting (e.g. approve)")
    parser.add_argument("--signal-arg", type=json_arg, default=None, help="the signal's argument, JSON")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the result (default 120)")
    args = parser.parse_args()
    codec = codec_from(args)
    warrant = args.warrant
    client = await connect(args, codec, [HeaderSealingClientInterceptor(codec, args.namespace, lambda _id: warrant)])
    workflow_id = args.workflow_id or f"polyglot-py-{uuid.uuid4().hex[:12]}"
    handle = await client.start_workflow(args.workflow_type, args.arg, id=workflow_id, task_queue=args.task_queue)
    print(f"started {args.workflow_type} {workflow_id} on {args.task_queue}", file=sys.stderr)
    if args.signal:
        signal_args = [] if args.signal_arg is None else [args.signal_arg]
        await handle.signal(args.signal, args=signal_args)
    result = await asyncio.wait_for(handle.result(), args.timeout)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    try:
        code = asyncio.run(main())
    except Exception:
        traceback.print_exc()
        code = 1
    # temporalio's Rust bridge keeps threads that can outlive the event loop; tearing the interpreter
    # down around them now and then aborts a short-lived client after its work is done ("Fatal Python
    # error: PyGILState_Release", sdk-python#300). The result is printed: flush and leave without
    # interpreter finalization, so the exit code is the client's own.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
