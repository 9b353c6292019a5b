/**
 * `cellflow login URL`: checks a key against the server (GET /api/me) and only then saves the profile
 * the client commands use. The key comes from --key, else from stdin when it is piped (so it stays out
 * of shell history and `ps`), else from a prompt that does not echo.
 */
import { Command } from 'commander';

import {
  ApiClient,
  ApiError,
  CliError,
  normaliseServerUrl,
  usageErrorsExit2
} from './client.js';
import { writeProfile } from './profile.js';

export function registerLoginCommand(program: Command): void {
  usageErrorsExit2(
    program
      .command('login')
      .description(
        'Check an API key against a Cellflow server and save both as your profile (owner-only file)'
      )
      .argument('<url>', 'the server, e.g. http://127.0.0.1:8787')
      .option(
        '--key <key>',
        'the API key (default: read from stdin when piped, else asked for without echo)'
      )
      .addHelpText(
        'after',
        '\nExamples:\n  cellflow login http://127.0.0.1:8787            (asks for the key)\n  cellflow keys create --workspace team --name me | tail -n1 | cellflow login http://127.0.0.1:8787'
      )
      .action(async (rawUrl: string, opts: { key?: string }) => {
        const url = normaliseServerUrl(rawUrl);
        const key = (opts.key ?? (await readKey())).trim();
        if (!key) {
          throw new CliError('no API key given; nothing was saved');
        }
        const client = new ApiClient({ url, key });
        let me;
        try {
          me = await client.me();
        } catch (error) {
          if (error instanceof ApiError && error.status === 401) {
            throw new CliError(
              `the server at ${url} refused this API key (401 unauthorized); nothing was saved`
            );
          }
          throw error;
        }
        const path = await writeProfile({ url, key });
        process.stderr.write(`Saved the profile in ${path}.\n`);
        process.stdout.write(
          `Logged in to ${url} as workspace ${me.workspace.name} (key "${me.key.name}", ${me.key.prefix}…)\n`
        );
      })
  );
}

/** All of stdin as text, for input that is piped in (a key, a secret's value). */
export async function readStdin(): Promise<string> {
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) {
    text += chunk;
  }
  return text;
}

async function readKey(): Promise<string> {
  if (!process.stdin.isTTY) {
    const text = await readStdin();
    // Take the last non-empty line, so `keys create ... | cellflow login URL` works as is.
    const lines = text.split(/\r?\n/).filter(line => line.trim() !== '');
    return lines.at(-1) ?? '';
  }
  return promptHidden('API key: ');
}

/** Reads one line from the terminal in raw mode, echoing nothing. */
export function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let answer = '';
    const finish = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (error) {
        reject(error);
      } else {
        resolve(answer);
      }
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') {
          finish();
          return;
        }
        if (char === '\u0003') {
          finish(new CliError('cancelled; nothing was saved'));
          return;
        }
        if (char === '\u007f' || char === '\b') {
          answer = answer.slice(0, -1);
        } else {
          answer += char;
        }
      }
    };
    stdin.setEncoding('utf8');
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}
