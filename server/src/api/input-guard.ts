/**
 * Client input the database or the flow package cannot take, refused with a 400 naming the field
 * before any route sees it: a NUL character (PostgreSQL text cannot hold one), a lone UTF-16
 * surrogate (not Unicode text: `"\ud800"` in JSON), and JSON nested deeper than MAX_JSON_DEPTH (the
 * recursive checks and hashes of src/flow would overflow the stack). One preValidation hook checks
 * every string and key of the path parameters, the query string and the body, without recursion.
 * Fastify's own routing errors (a path that is not UTF-8, a path parameter longer than
 * maxParamLength) get the project's error shape through `frameworkErrors`.
 */
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest
} from 'fastify';

import { MAX_JSON_DEPTH } from '../../../src/flow/limits.js';

const LONE_SURROGATE =
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export interface InputProblem {
  /** Dotted path from the part's root: `name`, `notebook.cells.0.source`. */
  field: string;
  message: string;
}

/** What is wrong with one string, or null. */
function textProblem(text: string): string | null {
  if (text.includes('\u0000')) {
    return 'contains a NUL character (\\u0000), which text cannot hold';
  }
  if (LONE_SURROGATE.test(text)) {
    return 'is not valid Unicode text: it contains a lone surrogate (such as \\ud800)';
  }
  return null;
}

interface Node {
  value: unknown;
  key: string | null;
  parent: Node | null;
  depth: number;
}

function pathOf(node: Node): string {
  const parts: string[] = [];
  for (let n: Node | null = node; n && n.key !== null; n = n.parent) {
    parts.push(n.key);
  }
  return parts.reverse().join('.');
}

/** The first NUL, lone surrogate or too-deep nesting in `value` (depth-first, iterative). */
export function findInputProblem(value: unknown): InputProblem | null {
  const stack: Node[] = [{ value, key: null, parent: null, depth: 0 }];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const v = node.value;
    if (typeof v === 'string') {
      const problem = textProblem(v);
      if (problem) {
        return { field: pathOf(node), message: problem };
      }
      continue;
    }
    if (typeof v !== 'object' || v === null) {
      continue;
    }
    if (node.depth >= MAX_JSON_DEPTH) {
      return {
        field: pathOf(node),
        message: `is nested too deep: more than ${MAX_JSON_DEPTH} levels of objects and arrays`
      };
    }
    const entries: [string, unknown][] = Array.isArray(v)
      ? v.map((item, i) => [String(i), item])
      : Object.entries(v);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i];
      const childNode: Node = {
        value: child,
        key,
        parent: node,
        depth: node.depth + 1
      };
      const keyProblem = textProblem(key);
      if (keyProblem) {
        return {
          field: pathOf(childNode),
          message: `has a name that ${keyProblem}`
        };
      }
      stack.push(childNode);
    }
  }
  return null;
}

const PARTS = [
  ['params', 'params'],
  ['query', 'querystring'],
  ['body', 'body']
] as const;

/** Registers the check on every route of `app` (call before the routes). */
export function registerInputGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request, reply) => {
    for (const [part, where] of PARTS) {
      const problem = findInputProblem(request[part]);
      if (problem) {
        const subject = problem.field
          ? `${where} field "${problem.field}"`
          : where;
        reply.code(400).send({
          error: 'bad-request',
          message: `${subject} ${problem.message}`,
          field: problem.field || where
        });
        return reply;
      }
    }
    return undefined;
  });
}

/** Fastify's routing errors in the project's error shape (the `frameworkErrors` server option). */
export function frameworkErrors(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply
): void {
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'A path parameter is too long: ids are at most 200 characters'
      : error.code === 'FST_ERR_BAD_URL'
        ? 'The path is not valid: it must be URL-encoded UTF-8 text'
        : error.message;
  void reply.code(400).send({ error: 'bad-request', message, field: 'path' });
}
