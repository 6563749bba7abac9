"""Closed-loop HTTP load on loopback for the service benchmarks: ``wrk`` when installed, else a small
asyncio keep-alive client (which costs more CPU on the same cores).

Both report the requests, failures, latency percentiles (p50, p90, p99, p99.9) and the requests
completed in each second. wrk counts per second in its ``request()`` hook: in a closed loop without
pipelining, each connection sends its next request when the previous answer arrives, so requests
sent in a second are the ones answered in it, give or take one per connection.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from result import CpuMeter, Series, percentiles_ms


@dataclass
class LoadResult:
    connections: int
    requests: int
    seconds: float
    failures: int
    #: p50, p90, p99, p99.9 in ms.
    latency_ms: dict[str, float]
    #: Requests answered in each whole second of the run.
    per_second: list[float]
    tool: str
    #: Cores used during the run, by process tree (``CpuMeter``).
    cores: dict[str, float] = field(default_factory=dict)
    #: The machine's 1-minute load average before the run: other work competing for the same cores.
    load_average_before: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def series(self, label: str, unit: str = "req/s", scale: float = 1.0) -> Series:
        seconds = [float(n + 1) for n in range(len(self.per_second))]
        return Series(label=label, unit=unit, seconds=seconds, values=[value * scale for value in self.per_second])


# The request() hook counts per second (os.time()); done() prints the summary as one JSON line.
_WRK_SCRIPT = """\
local bodies = {}
local count = 0
for line in io.lines("%(bodies)s") do
  count = count + 1
  bodies[count] = line
end
local next_body = 0
wrk.method = "POST"
%(headers)s
sent = {}
request = function()
  next_body = next_body %% count + 1
  local second = os.time()
  sent[second] = (sent[second] or 0) + 1
  return wrk.format(nil, "%(path)s", nil, bodies[next_body])
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local per_second = {}
  for _, thread in ipairs(threads) do
    for second, n in pairs(thread:get("sent")) do
      per_second[second] = (per_second[second] or 0) + n
    end
  end
  local seconds = {}
  for second, n in pairs(per_second) do
    table.insert(seconds, string.format('"%%d": %%d', second, n))
  end
  local e = summary.errors
  io.write(string.format(
    'RANKFEED-RESULT {"requests": %%d, "duration_us": %%d, "status_errors": %%d, "socket_errors": %%d, '
    .. '"p50": %%d, "p90": %%d, "p99": %%d, "p99.9": %%d, "per_second": {%%s}}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    table.concat(seconds, ", ")))
end
"""


def run_wrk(
    port: int, path: str, bodies: list[bytes], headers: dict[str, str], connections: int, seconds: float
) -> LoadResult:
    with tempfile.TemporaryDirectory() as folder:
        bodies_file = Path(folder) / "bodies.ndjson"
        bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
        script = Path(folder) / "post.lua"
        lua_headers = "\n".join(f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items())
        script.write_text(_WRK_SCRIPT % {"bodies": bodies_file, "headers": lua_headers, "path": path})
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(script)]
        output = subprocess.run(
            [*command, f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True, timeout=seconds + 60
        ).stdout
    lines = [line for line in output.splitlines() if line.startswith("RANKFEED-RESULT ")]
    if not lines:
        raise RuntimeError(f"unexpected wrk output (no RANKFEED-RESULT line):\n{output}")
    summary = json.loads(lines[0].split(" ", 1)[1])
    counts = sorted((int(second), n) for second, n in summary["per_second"].items())
    # The first and last seconds are partial (the run starts and stops within them).
    per_second = [float(n) for _, n in counts[1:-1]] if len(counts) > 2 else [float(n) for _, n in counts]
    return LoadResult(
        connections=connections,
        requests=summary["requests"],
        seconds=summary["duration_us"] / 1e6,
        failures=summary["status_errors"] + summary["socket_errors"],
        latency_ms={name: summary[name] / 1000 for name in ("p50", "p90", "p99", "p99.9")},
        per_second=per_second,
        tool="wrk",
    )


async def _keep_alive_client(
    port: int,
    requests: list[bytes],
    offset: int,
    ok_status: bytes,
    started: float,
    stop_at: float,
    latencies: list[float],
    answered_at: list[float],
    failures: list[int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = offset
    try:
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            writer.write(requests[index % len(requests)])
            index += 1
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            now = time.perf_counter()
            latencies.append(now - sent)
            answered_at.append(now - started)
            if not status_line.startswith(b"HTTP/1.1 " + ok_status):
                failures.append(1)
    finally:
        writer.close()


def run_python_load(
    port: int, path: str, bodies: list[bytes], headers: dict[str, str], connections: int, seconds: float, ok_status: int
) -> LoadResult:
    """Fallback when wrk is not installed: a closed-loop keep-alive client per connection."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    requests = [
        f"POST {path} HTTP/1.1\r\nHost: bench\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
        for body in bodies
    ]
    latencies: list[float] = []
    answered_at: list[float] = []
    failures: list[int] = []

    async def main() -> float:
        started = time.perf_counter()
        stop_at = started + seconds
        await asyncio.gather(
            *(
                _keep_alive_client(
                    port, requests, n * 97, str(ok_status).encode(), started, stop_at, latencies, answered_at, failures
                )
                for n in range(connections)
            )
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    return LoadResult(
        connections=connections,
        requests=len(latencies),
        seconds=elapsed,
        failures=len(failures),
        latency_ms=percentiles_ms(latencies),
        per_second=Series.from_times("", "req/s", answered_at).values,
        tool="python asyncio client",
    )


#: ``--load-generator`` choices; figures made with different generators are not comparable.
GENERATORS = ("wrk", "python")
GENERATOR_HELP = (
    "wrk (default: a C load generator; apt-get install wrk) or python (an asyncio client that spends more "
    "of the same cores: its figures are not comparable with wrk's)"
)


def require_generator(generator: str) -> str:
    """``generator`` if it can run here; otherwise exits with the one sentence that says what to do."""
    if generator == "wrk" and shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is not installed: install it (apt-get install wrk; make bench does) or pass "
            "--load-generator python, whose figures are not comparable with wrk's"
        )
    return generator


def drive(
    port: int,
    path: str,
    bodies: list[bytes],
    connections: int,
    seconds: float,
    generator: str,
    *,
    headers: dict[str, str],
    ok_status: int,
    meter: CpuMeter | None = None,
) -> LoadResult:
    """One closed-loop run of ``seconds`` against ``port``; ``generator`` is one of ``GENERATORS``."""
    load_average = os.getloadavg()[0]
    headers = {"Content-Type": "application/json", **headers}
    if meter is not None:
        meter.start()
    if require_generator(generator) == "wrk":
        result = run_wrk(port, path, bodies, headers, connections, seconds)
    else:
        result = run_python_load(port, path, bodies, headers, connections, seconds, ok_status)
    if meter is not None:
        result.cores = meter.stop()
    result.load_average_before = load_average
    return result
