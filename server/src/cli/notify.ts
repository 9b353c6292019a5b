/**
 * `cellflow notify add|list|remove|test` (rules: which run events of a flow go where) and
 * `cellflow notifications` (what was sent, and what keeps failing). Destinations are shown masked, as
 * the API answers them; a webhook's secret is best given in $CELLFLOW_NOTIFY_SECRET (a command line
 * is visible to every user of the machine).
 */
import { Command, InvalidArgumentError } from 'commander';

import {
  DELIVERY_STATES,
  NOTIFICATION_EVENTS
} from '../../../src/flow/notification-kinds.js';
import {
  ApiClient,
  CliError,
  usageErrorsExit2,
  type NewNotificationRule,
  type NotificationRuleInfo
} from './client.js';
import { resolveRunId } from './id-prefix.js';
import { resolveConnection } from './profile.js';
import { resolveFlow } from './run.js';
import { formatTable, formatTime } from './table.js';

export const NOTIFY_SECRET_ENV = 'CELLFLOW_NOTIFY_SECRET';

interface AddOptions {
  flow?: string;
  on: string[];
  slack?: string;
  webhook?: string;
  secret?: string;
  email?: string;
}

/** `Failed,Crashed` → the events, each checked (case as the states are written). */
export function parseEvents(value: string): string[] {
  const events = value
    .split(',')
    .map(e => e.trim())
    .filter(Boolean)
    .map(e => {
      const known = NOTIFICATION_EVENTS.find(
        k => k.toLowerCase() === e.toLowerCase()
      );
      if (!known) {
        throw new InvalidArgumentError(
          `unknown event "${e}"; use ${NOTIFICATION_EVENTS.join(', ')}`
        );
      }
      return known;
    });
  if (events.length === 0) {
    throw new InvalidArgumentError(
      `name at least one of ${NOTIFICATION_EVENTS.join(', ')}`
    );
  }
  return [...new Set(events)];
}

/** The rule `add` asks for, from its options: exactly one destination. */
export function ruleFromOptions(
  opts: AddOptions,
  flowId: string | null,
  env: NodeJS.ProcessEnv = process.env
): NewNotificationRule {
  const given = [opts.slack, opts.webhook, opts.email].filter(
    d => d !== undefined
  );
  if (given.length !== 1) {
    throw new CliError(
      'give one destination: --slack URL, --webhook URL (with --secret), or --email ADDRESS'
    );
  }
  if (opts.slack !== undefined) {
    return { flowId, events: opts.on, kind: 'slack', url: opts.slack };
  }
  if (opts.webhook !== undefined) {
    const secret = opts.secret ?? (env[NOTIFY_SECRET_ENV] || undefined);
    if (!secret) {
      throw new CliError(
        `a webhook signs each message: give --secret S, or set $${NOTIFY_SECRET_ENV}`
      );
    }
    return {
      flowId,
      events: opts.on,
      kind: 'webhook',
      url: opts.webhook,
      secret
    };
  }
  return { flowId, events: opts.on, kind: 'email', email: opts.email };
}

async function findRule(
  client: ApiClient,
  given: string
): Promise<NotificationRuleInfo> {
  const wanted = given.trim().toLowerCase();
  const rules = await client.listNotificationRules();
  const exact = rules.find(r => r.id === wanted);
  const matches = exact ? [exact] : rules.filter(r => r.id.startsWith(wanted));
  if (wanted === '' || matches.length === 0) {
    throw new CliError(
      `no notification rule has an id starting with "${given}"; "cellflow notify list" lists them`
    );
  }
  if (matches.length > 1) {
    throw new CliError(
      `"${given}" is the start of more than one rule id; give more characters`
    );
  }
  return matches[0];
}

export function registerNotifyCommands(program: Command): void {
  const notify = usageErrorsExit2(
    program
      .command('notify')
      .description(
        'Notification rules: which run events (Failed, Crashed, Late, Completed, Recovered) go to Slack, a webhook or e-mail'
      )
  );

  usageErrorsExit2(
    notify
      .command('add')
      .description(
        'Add a rule, for one flow (--flow) or every flow of the workspace'
      )
      .option('--flow <flow>', 'the flow (id or name); default: every flow')
      .requiredOption(
        '--on <events>',
        `comma-separated: ${NOTIFICATION_EVENTS.join(', ')} (Recovered: completed after the previous run failed)`,
        parseEvents
      )
      .option('--slack <url>', 'a Slack (or compatible) incoming webhook URL')
      .option(
        '--webhook <url>',
        'a URL that gets a JSON body signed with HMAC-SHA256 (header X-Cellflow-Signature-256)'
      )
      .option(
        '--secret <secret>',
        `with --webhook: the signing secret, 8 to 256 characters (prefer $${NOTIFY_SECRET_ENV})`
      )
      .option(
        '--email <address>',
        'an e-mail address (the server needs --smtp-url)'
      )
      .action(async (opts: AddOptions, command: Command) => {
        let wanted: NewNotificationRule;
        try {
          wanted = ruleFromOptions(opts, null);
        } catch (error) {
          // A usage error: commander prints it and exits 2 (usageErrorsExit2).
          command.error(`error: ${(error as Error).message}`);
        }
        const client = new ApiClient(await resolveConnection());
        const flow = opts.flow ? await resolveFlow(client, opts.flow) : null;
        const rule = await client.addNotificationRule({
          ...wanted,
          flowId: flow?.id ?? null
        });
        process.stdout.write(
          `Added rule ${rule.id.slice(0, 8)}: ${rule.events.join(',')} of ${flow ? `flow ${flow.name}` : 'every flow'} to ${rule.kind} ${rule.target}\n`
        );
      })
  );

  usageErrorsExit2(
    notify
      .command('list')
      .description("The workspace's rules, destinations masked")
      .action(async () => {
        const client = new ApiClient(await resolveConnection());
        const [rules, flows] = await Promise.all([
          client.listNotificationRules(),
          client.listFlows()
        ]);
        if (rules.length === 0) {
          process.stderr.write(
            'No notification rules. Add one with "cellflow notify add --on Failed,Crashed --slack URL".\n'
          );
          return;
        }
        const flowName = (id: string | null) =>
          id ? (flows.find(f => f.id === id)?.name ?? id) : '(every flow)';
        process.stdout.write(
          formatTable(
            ['ID', 'FLOW', 'ON', 'KIND', 'DESTINATION'],
            rules.map(r => [
              r.id.slice(0, 8),
              flowName(r.flowId),
              r.events.join(','),
              r.kind,
              r.target
            ])
          ) + '\n'
        );
      })
  );

  usageErrorsExit2(
    notify
      .command('remove')
      .description('Remove a rule (its unsent notifications are dropped)')
      .argument('<rule>', 'the rule id, or its first characters')
      .action(async (given: string) => {
        const client = new ApiClient(await resolveConnection());
        const rule = await findRule(client, given);
        await client.removeNotificationRule(rule.id);
        process.stdout.write(`Removed rule ${rule.id.slice(0, 8)}\n`);
      })
  );

  usageErrorsExit2(
    notify
      .command('test')
      .description("Send a test message to a rule's destination now")
      .argument('<rule>', 'the rule id, or its first characters')
      .action(async (given: string) => {
        const client = new ApiClient(await resolveConnection());
        const rule = await findRule(client, given);
        const result = await client.testNotificationRule(rule.id);
        if (!result.delivered) {
          throw new CliError(
            `the test message to ${rule.kind} ${rule.target} failed: ${result.error}`
          );
        }
        process.stdout.write(
          `Sent a test message to ${rule.kind} ${rule.target}\n`
        );
      })
  );

  usageErrorsExit2(
    program
      .command('notifications')
      .description(
        'Notifications queued and sent, newest first, with their outcome (and why they failed)'
      )
      .option('--run <run>', "only this run's (id or its first characters)")
      .option(
        '--state <state>',
        `only those ${DELIVERY_STATES.join(', ')}`,
        (value: string) => {
          const state = DELIVERY_STATES.find(
            s => s.toLowerCase() === value.toLowerCase()
          );
          if (!state) {
            throw new InvalidArgumentError(`use ${DELIVERY_STATES.join(', ')}`);
          }
          return state;
        }
      )
      .option('--limit <n>', 'at most this many, 1 to 500 (default 50)', v => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 500) {
          throw new InvalidArgumentError('a whole number from 1 to 500');
        }
        return n;
      })
      .action(
        async (opts: { run?: string; state?: string; limit?: number }) => {
          const client = new ApiClient(await resolveConnection());
          const flowRunId = opts.run
            ? await resolveRunId(client, opts.run)
            : undefined;
          const deliveries = await client.listNotificationDeliveries({
            flowRunId,
            state: opts.state,
            limit: opts.limit
          });
          if (deliveries.length === 0) {
            process.stderr.write('No notifications.\n');
            return;
          }
          process.stdout.write(
            formatTable(
              ['RUN', 'EVENT', 'TO', 'STATE', 'TRIES', 'WHEN', 'LAST ERROR'],
              deliveries.map(d => [
                d.flowRunId.slice(0, 8),
                d.event,
                `${d.kind} ${d.target}`,
                d.state,
                String(d.attempts),
                formatTime(
                  d.state === 'Delivered'
                    ? d.deliveredAt
                    : d.state === 'Pending'
                      ? d.nextAttemptAt
                      : d.createdAt
                ),
                d.lastError ?? '-'
              ])
            ) + '\n'
          );
        }
      )
  );
}
