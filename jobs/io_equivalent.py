"""I/O-equivalent baseline job for the benchmark: the labelling job's I/O without its logic.

Submit to a cluster:   flink run -d -py jobs/io_equivalent.py [--config job.yaml]
"""

from rankfeed.job import io_equivalent
from rankfeed.job.runner import run_stream

if __name__ == "__main__":
    run_stream(io_equivalent, "rankfeed-io-equivalent", __doc__ or "")
