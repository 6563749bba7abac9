"""Labelling job: user actions in; clean events, labels, LTR examples, sessions and exposures out (Kafka only).

Submit to a cluster:   flink run -d -py jobs/labelling.py [--config job.yaml]
Run in local mode:     python jobs/labelling.py --local [--config job.yaml]
Settings come from the YAML file and RANKFEED_* environment variables (see rankfeed.settings).
"""

from rankfeed.job import labelling
from rankfeed.job.runner import run_stream
from rankfeed.settings import LABELLING_PIPELINE_NAME

if __name__ == "__main__":
    run_stream(labelling, LABELLING_PIPELINE_NAME, __doc__ or "")
