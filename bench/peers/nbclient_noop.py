"""nbclient on the same no-op cells as Cellflow's overhead benchmark; prints JSON figures.

cold: NotebookClient(nb).execute() for the whole notebook, kernel start and stop included.
warm: per-cell times of execute_cell in a started kernel (nbclient's own per-cell cost included).
"""
import json
import sys
import time

import nbformat
from nbclient import NotebookClient


def notebook(count):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("pass") for _ in range(count)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def main():
    count = int(sys.argv[1])
    rounds = int(sys.argv[2])
    cold = []
    for _ in range(rounds):
        nb = notebook(count)
        start = time.perf_counter()
        NotebookClient(nb, kernel_name="python3", timeout=60).execute()
        cold.append((time.perf_counter() - start) * 1000)

    nb = notebook(count)
    client = NotebookClient(nb, kernel_name="python3", timeout=60)
    warm = []
    with client.setup_kernel():
        for index in range(5):  # warm-up
            client.execute_cell(nb.cells[index], index)
        for _ in range(rounds):
            for index, cell in enumerate(nb.cells):
                start = time.perf_counter()
                client.execute_cell(cell, index)
                warm.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"cold_ms": cold, "warm_cell_ms": warm}))


if __name__ == "__main__":
    main()
