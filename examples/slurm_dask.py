"""Run a campaign on a SLURM cluster through Dask (pip install 'xrdtui[slurm]').

    python examples/slurm_dask.py examples/paper.toml --jobs 4

Starts Dask workers as SLURM jobs (dask-jobqueue), one single-threaded worker process per core, then runs
`xrdtui run CONFIG --scheduler ADDRESS` from this process (the only writer of the store, on a filesystem
the login node can write). Workers need the same environment as this process (same xrdtui, torch,
pymatgen). The scheduler exchanges pickles with its workers: run it only on a network you trust; for TLS
set dask's `distributed.comm.tls.*` configuration (or DASK_DISTRIBUTED__COMM__TLS__* variables) and pass
the scheduler's tls:// address.
"""

from __future__ import annotations

import argparse
import subprocess
import sys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--jobs", type=int, default=4, help="SLURM jobs (nodes)")
    ap.add_argument("--cores", type=int, default=16, help="cores per job: one worker process each")
    ap.add_argument("--memory", default="32GB", help="memory per job (CHGNet workers need ~1.2 GB each)")
    ap.add_argument("--walltime", default="02:00:00")
    ap.add_argument("--queue", default=None)
    args, rest = ap.parse_known_args()

    from dask_jobqueue import SLURMCluster

    cluster = SLURMCluster(cores=args.cores, processes=args.cores, memory=args.memory, walltime=args.walltime,
                           queue=args.queue, job_script_prologue=["export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1"])
    cluster.scale(jobs=args.jobs)
    try:
        code = subprocess.call([sys.executable, "-m", "xrdtui", "run", args.config, "--scheduler",
                                cluster.scheduler_address, *rest])
    finally:
        cluster.close()
    sys.exit(code)


if __name__ == "__main__":
    main()
