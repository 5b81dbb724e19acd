"""Run the per-scan task over a cohort: local worker processes, or a Dask cluster.

Dask (distributed) is the scale-out engine: it is pure Python, starts a local cluster in one
call for tests and workstations, and the same `client.submit` reaches an HPC cluster through
dask-jobqueue or a Kubernetes cluster without changing the task. Ray would also work but brings
a heavier runtime and its own object store, which a file-in/file-out task does not need.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import clean
from ..errors import OptionError
from ..progress import Progress, silent
from ..cohort import Scan
from .folder import claim, recover_scans
from .report import write_reports
from .scan_task import TaskConfig, is_complete, process_scan, read_status


@dataclass(frozen=True)
class RunConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    workers: int = 1
    engine: str = "local"  # "local" processes or "dask"
    scheduler: str | None = None  # address of a running Dask scheduler; None = a local cluster
    overwrite: bool = False  # replace reports the user edited


def _limit_threads(workers: int) -> None:
    """Share the cores between workers instead of every worker using all of them."""
    threads = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "ICHKIT_TORCH_THREADS"):
        os.environ[var] = threads


def run_cohort(scans: list[Scan], outdir: str | Path, config: RunConfig = RunConfig(), progress: Progress = silent) -> dict:
    """Process every scan not already complete; rebuild the summary from the status files.
    Refuses (before any scan runs) a folder that `ich run` did not make; see `folder`."""
    outdir = Path(outdir)
    claim(outdir, scans, config.overwrite)  # checked first: never create a lock in a stranger's folder
    with _exclusive(outdir):
        claim(outdir, scans, config.overwrite)  # again under the lock: another run may have written meanwhile
        return _run_locked(scans, outdir, config, progress)


@contextlib.contextmanager
def _exclusive(outdir: Path):
    """One run per output folder; the kernel drops the lock when a killed run dies."""
    with open(outdir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OptionError(outdir, "another `ich run` is writing to this folder") from None
        clean(outdir)  # the reports a killed run was publishing: completed, or their temporaries removed
        recover_scans(outdir / "scans")
        yield


def _run_locked(scans: list[Scan], outdir: Path, config: RunConfig, progress: Progress) -> dict:
    todo = [s for s in scans if not is_complete(outdir, s, config.task)]
    done = len(scans) - len(todo)
    progress(done, len(scans), "resuming" if done else "starting")
    if todo:
        runner = _run_dask if config.engine == "dask" else _run_local
        for _ in runner(todo, outdir, config):
            done += 1
            progress(done, len(scans), "")
    statuses = {s.scan_id: read_status(outdir, s) for s in scans}
    return write_reports(scans, statuses, outdir)


def _run_local(todo: list[Scan], outdir: Path, config: RunConfig):
    if config.workers <= 1:
        for scan in todo:
            yield process_scan(scan, outdir, config.task)
        return
    _limit_threads(config.workers)
    with ProcessPoolExecutor(max_workers=config.workers, initializer=_die_on_signals) as pool:
        futures = [pool.submit(process_scan, scan, outdir, config.task) for scan in todo]
        for fut in as_completed(futures):
            yield fut.result()


def _die_on_signals() -> None:
    """A worker stops at once on Ctrl-C or SIGTERM. Inheriting the CLI's handler, it would raise
    KeyboardInterrupt inside a scan (say, in `import torch`), then take the next scan with a
    half-imported library and record a false failure."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run_dask(todo: list[Scan], outdir: Path, config: RunConfig):
    # deferred: dask's distributed comes with the [cluster] extra and loads only for --scheduler runs
    from distributed import Client, LocalCluster, as_completed as dask_completed

    cluster = None
    if config.scheduler:
        client = Client(config.scheduler)
    else:
        _limit_threads(config.workers)
        cluster = LocalCluster(n_workers=config.workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = [client.submit(process_scan, scan, str(outdir), config.task, key=f"scan-{scan.scan_id}", pure=False) for scan in todo]
        for fut in dask_completed(futures):
            yield fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
