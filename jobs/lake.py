"""Lake job: the labelling job's topics in; the Parquet datasets (events/, ltr_examples/, sessions/) out.

Submit to a cluster:   flink run -d -py jobs/lake.py [--config job.yaml]
Run in local mode:     python jobs/lake.py --local [--config job.yaml]
Settings come from the YAML file and RANKFEED_* environment variables (see rankfeed.settings).
"""

from rankfeed.job import lake
from rankfeed.job.runner import run
from rankfeed.settings import LAKE_PIPELINE_NAME

if __name__ == "__main__":
    run(lake.build, LAKE_PIPELINE_NAME, __doc__ or "", checkpoint_interval=lake.checkpoint_interval)
