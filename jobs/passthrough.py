"""Pass-through baseline: read user-actions and discard them (benchmarks compare the feedback job to it).

Submit to a cluster:   flink run -d -py jobs/passthrough.py [--config job.yaml]
"""

from rankfeed.job import passthrough
from rankfeed.job.runner import run

if __name__ == "__main__":
    run(passthrough.build, "rankfeed-passthrough", __doc__ or "")
