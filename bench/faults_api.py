"""Benchmark: the Bot API failing for a minute under a real `python -m bot run` process.

    python -m bench.faults_api [--seconds 60] [--kinds 500,502,429,timeout,timeout-taken]
                               [--client-timeout 10] [--polling-timeout 10]

Per fault kind (tests/test_api_faults.py: 500; a proxy's 502 page; 429 with retry_after 5; no
answer, the request lost; no answer, the request carried out by Telegram), the window lasts
`--seconds` while four returnees and their staff write both ways; the client gives a call up
after `--client-timeout` s (getUpdates after `--polling-timeout` + 10 s). Reported per kind:
messages, lost, duplicates (and the bound: calls carried out but unanswered), calls that met the
fault (and the most sends left hanging at once), seconds from the API's recovery until everything
showed and the outbox was empty, whether the process stayed up and stopped cleanly, and lines
with a traceback or the token.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from tests.test_api_faults import KINDS, FaultRun, run_fault


def row(report: FaultRun) -> str:
    return (
        f"| {report.kind} | {report.seconds:.0f} | {report.messages} | {len(report.lost)} "
        f"| {sum(report.duplicates.values())} | {sum(report.unanswered.values())} "
        f"| {report.faulted_polls} | {report.faulted_sends} | {report.most_hanging} "
        f"| {report.recovered_after:.1f} "
        f"| {'yes' if report.stayed_up else 'NO'} | {report.exit_code} | {len(report.bad_lines)} |"
    )


async def main(args: argparse.Namespace) -> None:
    rows = []
    for kind in args.kinds.split(","):
        with tempfile.TemporaryDirectory() as folder:
            report = await run_fault(
                Path(folder),
                kind,
                args.seconds,
                client_timeout=args.client_timeout,
                polling_timeout=args.polling_timeout,
            )
        rows.append(row(report))
        print(rows[-1], flush=True)
        if report.lost or report.duplicates:
            print(f"  lost {report.lost}; duplicates {report.duplicates}", flush=True)
    print(
        "\n| fault | window s | messages | lost | duplicates | taken, unanswered "
        "| getUpdates faulted | sends faulted | sends hanging at once | recovered after s "
        "| stayed up | exit | traceback/token lines |"
    )
    print(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--client-timeout", type=float, default=10)
    parser.add_argument("--polling-timeout", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
