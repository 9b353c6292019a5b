"""Prefect 3 on workloads 1-3 and 5 (see bench/peers.mjs), on its embedded default: no server set up,
so the first flow call starts Prefect's temporary local API on SQLite under $PREFECT_HOME.

    python prefect_workloads.py --tasks 100 --rounds 5 --url http://127.0.0.1:PORT/users --out-dir DIR
"""
import argparse
import datetime
import os
import time

import pandas as pd
import requests
from prefect import flow, task

from phases import idle, ms, say


@task
def noop():
    pass


@flow
def hundred(count: int):
    # Per task: each task call's own time, not the flow run's start and end.
    times = []
    for _ in range(count):
        start = time.perf_counter()
        noop()
        times.append(ms(time.perf_counter() - start))
    return times


# The tutorial ETL, the same three steps as examples/etl.ipynb.
@task(retries=3, retry_delay_seconds=2)
def extract(url: str):
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    users = response.json()
    if not users:
        raise ValueError(f"no data returned from {url}")
    return users


@task
def transform(users):
    return pd.DataFrame(
        [
            {
                "ID": user["id"],
                "Name": user["name"],
                "Username": user["username"],
                "Email": user["email"],
                "Address": ", ".join(user["address"][part] for part in ("street", "suite", "city")),
                "PhoneNumber": user["phone"],
                "CompanyName": user["company"]["name"],
            }
            for user in users
        ]
    )


@task
def load(df, out_dir: str):
    os.makedirs(out_dir, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    path = os.path.join(out_dir, f"users-{stamp}.csv")
    df.to_csv(path, index=False)
    return path


@flow
def etl(url: str, out_dir: str):
    load(transform(extract(url)), out_dir)


# Retries: fails twice, then succeeds; retry delay 1 s.
CALLS = {"flaky": 0}


@task(retries=2, retry_delay_seconds=1)
def flaky():
    CALLS["flaky"] += 1
    if CALLS["flaky"] % 3 != 0:
        raise RuntimeError("failing on purpose")


@flow
def retrying():
    start = time.perf_counter()
    flaky()
    return time.perf_counter() - start


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return ms(time.perf_counter() - start), value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--url", required=True)
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args()

    # A new user's first call: it starts the temporary API server, which then stays up.
    first_ms, _ = timed(hundred, args.tasks)
    idle()

    total, per_task = [], []
    for _ in range(args.rounds):
        elapsed, times = timed(hundred, args.tasks)
        total.append(elapsed)
        per_task.extend(times)

    say(phase="etl-start")
    etl_ms = [timed(etl, args.url, args.out_dir)[0] for _ in range(args.rounds)]
    say(phase="etl-end")

    retry_beyond = []
    for _ in range(args.rounds):
        _, span = timed(retrying)
        retry_beyond.append(ms(span) - 2000.0)

    say(
        result={
            "first_call_ms": first_ms,
            "noop_total_ms": total,
            "noop_per_task_ms": per_task,
            "etl_ms": etl_ms,
            "retry_beyond_ms": retry_beyond,
        }
    )


if __name__ == "__main__":
    main()
