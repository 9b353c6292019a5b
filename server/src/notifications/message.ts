/**
 * What a notification says, read from the store when it is sent (so a crashed run's tasks, ended in
 * the same transaction after its state, are there): the flow, the run, the failed task and the last
 * line of its error, the times, and a link that opens the run in the lab. Then the three shapes it
 * is sent in: Slack's `text` plus blocks, a JSON body for generic webhooks, and an e-mail.
 */
import type { FlowRunDetail, Store } from '../store/store.js';

/** The event a notice is about: a run event, or `Test` for `cellflow notify test`. */
export type NoticeEvent = string;

export interface RunNotice {
  event: NoticeEvent;
  flowId: string | null;
  flowName: string;
  runId: string | null;
  state: string | null;
  failedTask: string | null;
  /** The last line of the failed task's (or the run's) error, at most MAX_ERROR_LINE characters. */
  errorLine: string | null;
  reason: string | null;
  scheduledAt: string | null;
  startedAt: string | null;
  endedAt: string | null;
  /** Opens the run in the lab: null when the server has no public URL. */
  link: string | null;
}

export const MAX_ERROR_LINE = 500;
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

/** The last non-blank line of an error text (a traceback ends with `ValueError: boom`), plain text. */
export function lastLine(text: string | null | undefined): string | null {
  if (!text) {
    return null;
  }
  const lines = text
    .replace(ANSI, '')
    .split(/\r?\n/)
    .map(l => l.trim())
    .filter(l => l !== '');
  const last = lines[lines.length - 1];
  if (!last) {
    return null;
  }
  return last.length > MAX_ERROR_LINE
    ? `${last.slice(0, MAX_ERROR_LINE - 1)}…`
    : last;
}

/** The lab's address for a run: the public URL's /lab, with the run to open as a query parameter. */
export function runLink(
  publicUrl: string | null,
  runId: string
): string | null {
  if (!publicUrl) {
    return null;
  }
  const url = new URL(publicUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/lab`;
  url.search = '';
  url.searchParams.set('cellflow-run', runId);
  return url.toString();
}

function failedTaskOf(run: FlowRunDetail) {
  return run.taskRuns.find(t => t.state === 'Failed' || t.state === 'Crashed');
}

function taskError(task: FlowRunDetail['taskRuns'][number]): string | null {
  const attempt = task.attemptList[task.attemptList.length - 1];
  if (attempt?.errorName) {
    return `${attempt.errorName}: ${attempt.errorValue ?? ''}`;
  }
  return task.error;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The notice for `event` of a run; a run since removed (retention) still gets one, with what is known. */
export async function describeRun(
  store: Store,
  delivery: {
    workspaceId: string;
    flowId: string | null;
    flowRunId: string;
    event: string;
  },
  publicUrl: string | null
): Promise<RunNotice> {
  const run = await store.getRun(delivery.workspaceId, delivery.flowRunId);
  const flowId = run?.flowId ?? delivery.flowId;
  const flow = flowId
    ? await store.getFlow(delivery.workspaceId, flowId)
    : null;
  const task = run ? failedTaskOf(run) : undefined;
  return {
    event: delivery.event,
    flowId,
    flowName: flow?.name ?? flowId ?? '(removed flow)',
    runId: delivery.flowRunId,
    state: run?.state ?? null,
    failedTask: task?.taskName ?? null,
    errorLine: lastLine(task ? taskError(task) : (run?.error ?? null)),
    reason: run?.stateReason ?? null,
    scheduledAt: iso(run?.scheduledAt ?? null),
    startedAt: iso(run?.startedAt ?? null),
    endedAt: iso(run?.endedAt ?? null),
    link: runLink(publicUrl, delivery.flowRunId)
  };
}

const VERB: Record<string, string> = {
  Failed: 'failed',
  Crashed: 'crashed',
  Late: 'is late',
  Completed: 'completed',
  Recovered: 'completed again after a failure',
  Test: 'test message'
};

/** One line: `Cellflow: flow etl failed (run 1a2b3c4d): task load: ValueError: boom`. */
export function summaryLine(n: RunNotice): string {
  const verb = VERB[n.event] ?? n.event;
  if (n.event === 'Test') {
    return `Cellflow: test message for notifications of ${n.flowName}`;
  }
  const run = n.runId ? ` (run ${n.runId.slice(0, 8)})` : '';
  const task = n.failedTask ? `: task ${n.failedTask}` : '';
  const error = n.errorLine ? `: ${n.errorLine}` : '';
  return `Cellflow: flow ${n.flowName} ${verb}${run}${task}${error}`;
}

/** The notice's details, one `Label: value` per line, for the e-mail and Slack's fields. */
export function detailLines(n: RunNotice): string[] {
  const lines: [string, string | null][] = [
    ['Flow', n.flowName],
    ['Run', n.runId],
    ['State', n.state],
    ['Failed task', n.failedTask],
    ['Error', n.errorLine],
    ['Reason', n.reason],
    ['Scheduled for', n.scheduledAt],
    ['Started', n.startedAt],
    ['Ended', n.endedAt],
    ['Open in the lab', n.link]
  ];
  return lines.filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`);
}

/** Slack's incoming-webhook shape: `text` (the notification's fallback) plus blocks. */
export function slackBody(n: RunNotice): Record<string, unknown> {
  const text = summaryLine(n);
  return {
    text,
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: `*${escapeSlack(text)}*` }
      },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: detailLines(n)
            .filter(l => !l.startsWith('Open in the lab'))
            .map(escapeSlack)
            .join('\n')
        }
      },
      ...(n.link
        ? [
            {
              type: 'actions',
              elements: [
                {
                  type: 'button',
                  text: { type: 'plain_text', text: 'Open the run' },
                  url: n.link
                }
              ]
            }
          ]
        : [])
    ]
  };
}

/** Slack's mrkdwn treats &, < and > as markup; an error line must not become a link or a mention. */
function escapeSlack(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/** The generic webhook's body: the notice as data, with the delivery id receivers can dedupe by. */
export function webhookBody(
  n: RunNotice,
  deliveryId: string
): Record<string, unknown> {
  return { deliveryId, summary: summaryLine(n), ...n };
}

export function emailMessage(n: RunNotice): { subject: string; text: string } {
  return {
    subject: summaryLine(n).slice(0, 200),
    text: `${summaryLine(n)}\n\n${detailLines(n).join('\n')}\n`
  };
}
