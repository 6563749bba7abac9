"""Features job: search exposures in; real-time hotel features and position-bias θ out (Kafka only).

Submit to a cluster:   flink run -d -py jobs/features.py [--config job.yaml]
Run in local mode:     python jobs/features.py --local [--config job.yaml]
Settings come from the YAML file and RANKFEED_* environment variables (see rankfeed.settings).
"""

from rankfeed.job import features
from rankfeed.job.runner import run_stream
from rankfeed.settings import FEATURES_PIPELINE_NAME

if __name__ == "__main__":
    run_stream(features, FEATURES_PIPELINE_NAME, __doc__ or "")
