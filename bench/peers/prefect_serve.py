"""Prefect 3 `serve` with a 10-second interval schedule (workload 4), on its embedded default. Each run's
one task appends its start time and the run's scheduled time to $PEERS_MARKER (an environment variable,
because `serve` runs each flow run in a new Python process that imports this file again)."""
import json
import os
import time

from prefect import flow, task
from prefect.runtime import flow_run


@task
def tick():
    started = time.time()
    scheduled = flow_run.scheduled_start_time.timestamp()
    with open(os.environ["PEERS_MARKER"], "a") as marker:
        marker.write(json.dumps({"started": started, "scheduled": scheduled}) + "\n")


@flow
def ticking():
    tick()


if __name__ == "__main__":
    ticking.serve(name="bench-interval", interval=10)
