/**
 * The pure parts of notifications: destinations checked and masked, the error line a message quotes,
 * Slack's escaping, the lab link, and the server's SMTP settings refused without repeating a password.
 */
import { describe, expect, it } from 'vitest';

import {
  lastLine,
  runLink,
  slackBody,
  type RunNotice
} from '../src/notifications/message.js';
import { resolveNotificationSettings } from '../src/notifications/settings.js';
import { checkTarget, maskTarget } from '../src/notifications/targets.js';

const notice: RunNotice = {
  event: 'Failed',
  flowId: 'f',
  flowName: 'etl',
  runId: '0123456789abcdef',
  state: 'Failed',
  failedTask: 'load',
  errorLine: 'KeyError: <@U123> & <!channel>',
  reason: null,
  scheduledAt: null,
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:01:00.000Z',
  link: null
};

describe('destinations', () => {
  it('are masked to scheme and host (tokens live in the path) or the first letter and domain', () => {
    expect(
      maskTarget(
        checkTarget('slack', {
          url: 'https://user:pw@hooks.slack.com/services/T0/B0/SECRET'
        })
      )
    ).toBe('https://hooks.slack.com/…');
    expect(
      maskTarget(checkTarget('email', { email: 'oncall@example.org' }))
    ).toBe('o…@example.org');
  });

  it('are refused naming the field, never repeating the value', () => {
    const cases: [Parameters<typeof checkTarget>, string][] = [
      [['slack', { url: 'javascript:alert(1)' }], 'url'],
      [['webhook', { url: 'https://x.org/h', secret: 'short' }], 'secret'],
      [
        ['webhook', { url: 'https://x.org/h', secret: 'x'.repeat(257) }],
        'secret'
      ],
      [['email', { email: 'a@b.org\r\nBcc: c@d.org' }], 'email'],
      [['email', { email: 'nobody' }], 'email']
    ];
    for (const [args, field] of cases) {
      expect(() => checkTarget(...args)).toThrow(
        expect.objectContaining({ field })
      );
    }
  });
});

describe('the message', () => {
  it("quotes the error's last line, without colours, bounded", () => {
    expect(
      lastLine(
        'Traceback (most recent call last):\n  File "x"\n\u001b[0;31mValueError\u001b[0m: boom\n\n'
      )
    ).toBe('ValueError: boom');
    expect(lastLine('x'.repeat(2000))!.length).toBe(500);
    expect(lastLine(null)).toBeNull();
  });

  it("escapes Slack's markup, so an error cannot mention a channel", () => {
    const body = slackBody(notice) as {
      text: string;
      blocks: { text?: { text: string } }[];
    };
    expect(body.blocks[0].text!.text).toContain('&lt;!channel&gt;');
    expect(body.blocks[0].text!.text).not.toContain('<!channel>');
  });

  it('links the run under the public URL, with its path kept', () => {
    expect(runLink('https://example.org/cellflow/', 'r1')).toBe(
      'https://example.org/cellflow/lab?cellflow-run=r1'
    );
    expect(runLink(null, 'r1')).toBeNull();
  });
});

describe('the SMTP settings', () => {
  it('come from the options, else the environment, and are checked', () => {
    expect(resolveNotificationSettings({ env: {} }).smtp).toBeNull();
    expect(
      resolveNotificationSettings({
        env: {
          CELLFLOW_SMTP_URL: 'smtp://u:p@mail.example.org:587',
          CELLFLOW_SMTP_FROM: 'cellflow@example.org'
        }
      }).smtp
    ).toEqual({
      url: 'smtp://u:p@mail.example.org:587',
      from: 'cellflow@example.org'
    });
    let message = '';
    try {
      resolveNotificationSettings({
        smtpUrl: 'http://user:hunter22@mail.example.org',
        env: {}
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('--smtp-url must be smtp://');
    expect(message).not.toContain('hunter22');
  });
});
