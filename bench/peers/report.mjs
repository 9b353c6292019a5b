// The README text of one run: the context line, the command, the table.
import { summary } from '../lib.mjs';
import { memoryCell, renderTable, timeCell } from './table.mjs';

export function report(results, { date, machine, command, rounds, tasks }) {
  const {
    cellflow,
    prefect,
    papermill,
    kernel_round_trip_ms: roundTrips
  } = results;
  const js = results.jupyter_scheduler;
  const roundTrip = summary(roundTrips).median;
  const notRun = 'not run (`--schedules`)';
  const rows = [
    {
      figure: `${tasks} no-op tasks, one whole run, kernel start included (Prefect: one flow call)`,
      cells: [
        timeCell(cellflow.noop_total_ms),
        timeCell(prefect.noop_total_ms),
        timeCell(papermill.noop_total_ms),
        timeCell('—')
      ]
    },
    {
      figure:
        'Per task on a warm kernel (Cellflow: between task starts; Prefect: per task call; papermill: per cell)',
      cells: [
        timeCell(cellflow.noop_per_task_ms),
        timeCell(prefect.noop_per_task_ms),
        timeCell(papermill.noop_per_task_ms),
        timeCell('—')
      ]
    },
    {
      figure: `Orchestration overhead per task: per task − the kernel's own no-op round trip (${roundTrip.toFixed(2)} ms); Prefect's tasks run in its own process, so all of it is overhead`,
      cells: [
        timeCell([summary(cellflow.noop_per_task_ms).median - roundTrip]),
        timeCell([summary(prefect.noop_per_task_ms).median]),
        timeCell([summary(papermill.noop_per_task_ms).median - roundTrip]),
        timeCell('—')
      ]
    },
    {
      figure: `First ${tasks}-task run after start (Cellflow: fresh server; Prefect: fresh process, its temporary API's start included)`,
      cells: [
        timeCell([cellflow.first_run_ms]),
        timeCell([prefect.first_call_ms]),
        timeCell('— (no resident part)'),
        timeCell('—')
      ]
    },
    {
      figure: 'Tutorial ETL (extract, transform, load), one whole run',
      cells: [
        timeCell(cellflow.etl_ms),
        timeCell(prefect.etl_ms),
        timeCell(papermill.etl_ms),
        timeCell('—')
      ]
    },
    {
      figure:
        'Retries: fails twice, succeeds; time beyond the 2 s of retry delays',
      cells: [
        timeCell(cellflow.retry_beyond_ms),
        timeCell(prefect.retry_beyond_ms),
        timeCell('— (no retries)'),
        timeCell('—')
      ]
    },
    {
      figure:
        'Schedule start lateness: first task start − scheduled time (Cellflow, Prefect: every 10 s for 3 min; jupyter-scheduler: every minute for 5 min)',
      cells: [
        timeCell(cellflow.schedule_lateness_ms ?? notRun),
        timeCell(prefect.schedule_lateness_ms ?? notRun),
        timeCell('— (no schedules)'),
        timeCell(js?.schedule_lateness_ms ?? notRun)
      ]
    },
    {
      figure:
        'Memory idle, resident, all processes (Cellflow: server; Prefect: process + temporary API; papermill: Python with papermill loaded; jupyter-scheduler: JupyterLab)',
      cells: [
        memoryCell(cellflow.idle_rss),
        memoryCell(prefect.idle_rss),
        memoryCell(papermill.idle_rss),
        memoryCell(js?.idle_rss ?? notRun)
      ]
    },
    {
      figure: 'Memory at peak during the ETL runs, kernels included',
      cells: [
        memoryCell(cellflow.etl_peak_rss),
        memoryCell(prefect.etl_peak_rss),
        memoryCell(papermill.etl_peak_rss),
        memoryCell('—')
      ]
    }
  ];
  return [
    `Measured ${date} on ${machine}; ${rounds} rounds of each timed workload, one system at a time.`,
    `Command: \`${command}\``,
    '',
    'Cells: median, then p99 where a figure has 100 values or more, else the maximum; n = how many values.',
    '',
    renderTable(rows)
  ].join('\n');
}
