"""The faults: each injects one failure into the chaos stack and clears it again.

Processes are killed with SIGKILL by the pid files the local stack keeps (a crash: no shutdown
hook, no final flush, no last checkpoint) and started again through the same ``Stack`` objects that
started them. Only the chaos stack's own processes are ever signalled.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from rankfeed import pipeline
from rankfeed.chaos import disk
from rankfeed.chaos.stack import ChaosStack
from rankfeed.local.procs import StackError, pid_alive, wait_until


@dataclass(frozen=True)
class Fault:
    """``inject`` breaks something and returns a note; ``clear`` repairs it. ``hold_seconds`` lies between."""

    name: str
    description: str
    inject: Callable[[ChaosStack], str]
    clear: Callable[[ChaosStack], str]
    hold_seconds: float = 0.0


#: How a fault that this machine cannot produce is reported.
NOT_TESTABLE = "not testable here"


def _kill(pid: int | None, what: str, group: bool = False) -> str:
    if pid is None:
        raise StackError(f"the chaos stack's {what} is not running, so it cannot be killed")
    if group:
        # The process was started in its own session (start_detached): its group holds its workers too.
        os.killpg(pid, signal.SIGKILL)
    else:
        os.kill(pid, signal.SIGKILL)
    # The signal is delivered asynchronously: until the process is gone its pid file still names it as running.
    wait_until(lambda: not pid_alive(pid), 30, f"{what} (pid {pid}) to die")
    return f"kill -9 {what} (pid {pid})"


def _wait_running(chaos: ChaosStack, timeout_seconds: float = 180.0) -> None:
    wait_until(lambda: chaos.job_state() == "RUNNING", timeout_seconds, f"jobs {chaos.job_ids} to run again")


# ---------------------------------------------------------------- 1. the Kafka broker


def kill_broker(chaos: ChaosStack) -> str:
    return _kill(chaos.stack.broker.pid(), "the Kafka broker")


def restart_broker(chaos: ChaosStack) -> str:
    chaos.stack.broker.start()
    return "broker started again"


# ---------------------------------------------------------------- 2. the TaskManager


def kill_taskmanager(chaos: ChaosStack) -> str:
    pid = chaos.stack.flink.kill_taskmanager()
    return f"kill -9 the TaskManager (pid {pid})"


def restart_taskmanager(chaos: ChaosStack) -> str:
    chaos.stack.flink.start_taskmanager()
    _wait_running(chaos)
    return "TaskManager started again; every job RUNNING from its last checkpoint"


# ---------------------------------------------------------------- 3. stop with a savepoint, resume


def stop_with_savepoint(chaos: ChaosStack) -> str:
    chaos.savepoints = pipeline.stop_with_savepoints(chaos.stack.flink, chaos.job_ids)
    return f"jobs {chaos.job_ids} stopped with savepoints {chaos.savepoints}"


def resume_from_savepoint(chaos: ChaosStack) -> str:
    if not chaos.savepoints:
        raise StackError("no savepoints to resume from")
    chaos.job_ids = chaos.submit(savepoints=chaos.savepoints)
    _wait_running(chaos)
    return f"resumed as jobs {chaos.job_ids}"


# ---------------------------------------------------------------- 4. the gateway


def kill_gateway(chaos: ChaosStack) -> str:
    return _kill(chaos.stack.gateway.pid(), "the gateway", group=True)


def restart_gateway(chaos: ChaosStack) -> str:
    chaos.stack.gateway.start()
    return "gateway started again (ready)"


# ---------------------------------------------------------------- 5. the Parquet folder


def break_parquet_folder(chaos: ChaosStack) -> str:
    """Make the Parquet folder read-only (see ``disk.make_read_only``): new part files, bucket folders
    and the commit of finished files (a rename) fail until it is writable again.

    An earlier version swapped each dataset folder for a regular file, which also hid the job's
    in-progress files. That lost data, and the loss is Flink's, not this fault's: on recovery,
    ``LocalRecoverableFsDataOutputStream.LocalCommitter.commitAfterRecovery`` returns without error
    when neither the temporary file nor the target exists, so a pending file that cannot be seen
    at that moment is dropped silently. A read-only folder is what "unwritable" means; a folder
    that vanishes (a lost mount) during a restart is a known gap of Flink's local file sink.
    """
    if not chaos.parquet_mounted:
        reason = chaos.disk_refused or "the Parquet folder is not on a filesystem of its own"
        raise StackError(f"{NOT_TESTABLE}: {reason}")
    disk.make_read_only(chaos.job.parquet_dir)
    return f"{chaos.job.parquet_dir} mounted read-only"


def repair_parquet_folder(chaos: ChaosStack) -> str:
    disk.unmount(chaos.job.parquet_dir)
    return "Parquet folder writable again"


def fill_disk(chaos: ChaosStack) -> str:
    """A full disk, really: the Parquet folder is a small tmpfs (see ``disk``); one hidden file takes every byte."""
    if not chaos.parquet_mounted:
        reason = chaos.disk_refused or "the Parquet folder is not on its own small filesystem"
        raise StackError(f"{NOT_TESTABLE}: {reason}")
    taken = disk.fill(chaos.job.parquet_dir)
    return f"Parquet filesystem filled ({taken / 1e6:.0f} MB taken, {disk.free_bytes(chaos.job.parquet_dir)} B free)"


def free_disk(chaos: ChaosStack) -> str:
    disk.release(chaos.job.parquet_dir)
    return f"space back ({disk.free_bytes(chaos.job.parquet_dir) / 1e6:.0f} MB free)"


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault(
            "broker",
            "kill -9 the Kafka broker, start it again after the hold",
            kill_broker,
            restart_broker,
            hold_seconds=15.0,
        ),
        Fault(
            "taskmanager",
            "kill -9 the TaskManager; the job recovers from its last checkpoint",
            kill_taskmanager,
            restart_taskmanager,
        ),
        Fault(
            "savepoint",
            "stop the job with a savepoint, resume the same job from it",
            stop_with_savepoint,
            resume_from_savepoint,
        ),
        Fault("gateway", "kill -9 the gateway mid-load, start it again", kill_gateway, restart_gateway),
        Fault(
            "parquet",
            "Parquet folder read-only (EROFS, even for root) during the hold, then writable again",
            break_parquet_folder,
            repair_parquet_folder,
            hold_seconds=20.0,
        ),
        Fault(
            "disk-full",
            "Parquet filesystem full (a tmpfs filled up) during the hold, then space back",
            fill_disk,
            free_disk,
            hold_seconds=20.0,
        ),
    )
}
