"""papermill on workloads 1, 2 and 5 (see bench/peers.mjs): the same notebooks Cellflow runs, through
papermill's Python API (what `papermill in.ipynb out.ipynb -p ...` calls), each run in a new kernel.
papermill has no retries, so it sits out workload 3.

    python papermill_workloads.py --noop NOOP.ipynb --etl ETL.ipynb --rounds 5 --url URL --out-dir DIR --work DIR
"""
import argparse
import os
import time

import nbformat
import papermill

from phases import idle, ms, say


def cell_durations_ms(path):
    """papermill stamps each executed cell's duration (seconds) in its metadata."""
    nb = nbformat.read(path, as_version=4)
    return [ms(cell.metadata.papermill["duration"]) for cell in nb.cells if cell.cell_type == "code"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--noop", required=True)
    parser.add_argument("--etl", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--url", required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    out = os.path.join(args.work, "out.ipynb")

    def run(notebook, **parameters):
        start = time.perf_counter()
        papermill.execute_notebook(
            notebook, out, parameters=parameters, kernel_name="python3", progress_bar=False
        )
        return ms(time.perf_counter() - start)

    idle()

    total, per_cell = [], []
    for _ in range(args.rounds):
        total.append(run(args.noop))
        per_cell.extend(cell_durations_ms(out))

    say(phase="etl-start")
    etl_ms = [run(args.etl, url=args.url, out_dir=args.out_dir) for _ in range(args.rounds)]
    say(phase="etl-end")

    say(result={"noop_total_ms": total, "noop_per_task_ms": per_cell, "etl_ms": etl_ms})


if __name__ == "__main__":
    main()
