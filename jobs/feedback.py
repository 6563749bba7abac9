"""Feedback job: user actions in; clean events, labelled feedback, LTR examples and sessions out.

Submit to a cluster:   flink run -d -py jobs/feedback.py [--config job.yaml]
Run in local mode:     python jobs/feedback.py --local [--config job.yaml]
Settings come from the YAML file and RANKFEED_* environment variables (see rankfeed.settings).
"""

from rankfeed.job import feedback
from rankfeed.job.runner import run
from rankfeed.settings import FEEDBACK_PIPELINE_NAME

if __name__ == "__main__":
    run(feedback.build, FEEDBACK_PIPELINE_NAME, __doc__ or "")
