"""Writes examples/etl.ipynb, the tutorial's ETL flow, from the cells below (run with .venv's python).

Kept as code so the notebook's content is reviewed as text; the .ipynb is committed beside it.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell(
        "# ETL with Cellflow: users from a JSON API to timestamped CSV files\n\n"
        "This notebook is a flow of three **tasks**: *extract* users from a JSON API, *transform* them with "
        "pandas, *load* them into a CSV file whose name holds the time, so runs never overwrite each other.\n\n"
        "- A cell becomes a task with the Cellflow button in its toolbar, or with a first line "
        "`%%task NAME [--retries N] [--retry-delay SECONDS] [--timeout SECONDS]`. The chip above the cell "
        "shows the task's name, its settings and, during a run, its state.\n"
        "- The cell tagged `parameters` holds the flow's parameters, as papermill reads them.\n"
        "- Cells that are not tasks (like the imports) run once, before the task after them.\n"
        "- **Run here** (notebook toolbar) runs the flow in this kernel, task by task, with retries."
    ),
    new_markdown_cell(
        "## Parameters\n\nEach line is `name = value  # description`. A deployed flow can run with other "
        "values (`cellflow run etl -p out_dir=output/nightly`)."
    ),
    new_code_cell(
        'url = "http://127.0.0.1:8765/users"  # the users API (examples/users-api)\n'
        'out_dir = "output"  # where the CSV files go, relative to this notebook',
        metadata={"tags": ["parameters"]},
    ),
    new_markdown_cell("## Set-up\n\nImports run once, before the first task."),
    new_code_cell(
        "import datetime\n"
        "import os\n\n"
        "import pandas as pd\n"
        "import requests\n\n"
        "# Tables as data (not only HTML), so Cellflow can preview them.\n"
        'pd.options.display.html.table_schema = True'
    ),
    new_markdown_cell(
        "## Extract\n\nGet the users; a server error or an empty answer raises, and the task is retried "
        "3 times, 2 seconds apart. Try it: `curl -X POST 'http://127.0.0.1:8765/fail?count=2'` makes the "
        "next two requests fail."
    ),
    new_code_cell(
        "%%task extract --retries 3 --retry-delay 2\n"
        "response = requests.get(url, timeout=10)\n"
        "response.raise_for_status()\n"
        "users = response.json()\n"
        "if not users:\n"
        '    raise ValueError(f"no data returned from {url}")\n'
        'print(f"extracted {len(users)} users")'
    ),
    new_markdown_cell(
        "## Transform\n\nKeep seven columns, with the address as one line \"street, suite, city\"."
    ),
    new_code_cell(
        "%%task transform\n"
        "df = pd.DataFrame(\n"
        "    [\n"
        "        {\n"
        '            "ID": user["id"],\n'
        '            "Name": user["name"],\n'
        '            "Username": user["username"],\n'
        '            "Email": user["email"],\n'
        '            "Address": ", ".join(user["address"][part] for part in ("street", "suite", "city")),\n'
        '            "PhoneNumber": user["phone"],\n'
        '            "CompanyName": user["company"]["name"],\n'
        "        }\n"
        "        for user in users\n"
        "    ]\n"
        ")\n"
        "df"
    ),
    new_markdown_cell("## Load\n\nOne CSV file per run, named by the time of the run."),
    new_code_cell(
        "%%task load\n"
        "os.makedirs(out_dir, exist_ok=True)\n"
        'stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")\n'
        'path = os.path.join(out_dir, f"users-{stamp}.csv")\n'
        "df.to_csv(path, index=False)\n"
        'print(f"wrote {len(df)} rows to {path}")'
    ),
    new_markdown_cell(
        "## Schedule it\n\n"
        "Open the Cellflow panel (left sidebar), log in to the Cellflow server with an API key "
        "(`bash scripts/start.sh` prints one), and deploy this notebook with a schedule: every 10 seconds, "
        "or a cron such as `*/1 * * * *` in your time zone. From a terminal:\n\n"
        "```bash\n"
        "npx cellflow deploy examples/etl.ipynb\n"
        "npx cellflow run etl --watch\n"
        "```"
    ),
]

nb = new_notebook(
    cells=cells,
    metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"},
        "cellflow": {"name": "etl"},
    },
)
# Stable cell ids keep diffs of the generated notebook small.
for index, cell in enumerate(nb.cells):
    cell["id"] = f"etl-{index:02d}"
nbformat.validate(nb)
Path(__file__).with_name("etl.ipynb").write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
print("wrote examples/etl.ipynb")
