/**
 * The Jupyter messaging protocol's wire format (v5.3): frames, HMAC-SHA256 signatures, headers.
 * https://jupyter-client.readthedocs.io/en/stable/messaging.html#the-wire-protocol
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

export const DELIMITER = Buffer.from('<IDS|MSG>');
export const PROTOCOL_VERSION = '5.3';

export interface MessageHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
  [key: string]: unknown;
}

export interface JupyterMessage<C = Record<string, unknown>> {
  header: MessageHeader;
  parent_header: Partial<MessageHeader>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
  /** Routing prefix frames (on iopub: the topic). */
  identities: Buffer[];
}

export class Signer {
  private readonly key: Buffer;

  constructor(key: string) {
    this.key = Buffer.from(key, 'utf8');
  }

  sign(frames: Buffer[]): string {
    // An empty key means "no signing" in the protocol; Cellflow always sets one, but stay correct.
    if (this.key.length === 0) {
      return '';
    }
    const hmac = createHmac('sha256', this.key);
    for (const frame of frames) {
      hmac.update(frame);
    }
    return hmac.digest('hex');
  }

  /** Constant-time check of a received signature over the raw frames. */
  verify(signature: Buffer, frames: Buffer[]): boolean {
    const expected = Buffer.from(this.sign(frames), 'utf8');
    return (
      expected.length === signature.length &&
      timingSafeEqual(expected, signature)
    );
  }
}

export function makeHeader(msgType: string, session: string): MessageHeader {
  return {
    msg_id: randomUUID(),
    msg_type: msgType,
    session,
    username: 'cellflow',
    date: new Date().toISOString(),
    version: PROTOCOL_VERSION
  };
}

/** Frames to send from a Dealer: delimiter, signature, header, parent, metadata, content. */
export function serialize(
  signer: Signer,
  header: MessageHeader,
  content: unknown,
  parent: Partial<MessageHeader> = {},
  metadata: Record<string, unknown> = {}
): Buffer[] {
  const body = [header, parent, metadata, content].map(part =>
    Buffer.from(JSON.stringify(part), 'utf8')
  );
  return [DELIMITER, Buffer.from(signer.sign(body), 'utf8'), ...body];
}

export type ParseResult =
  { ok: true; message: JupyterMessage } | { ok: false; reason: string };

/** Parses received frames; refuses a message whose signature does not match. */
export function deserialize(signer: Signer, frames: Buffer[]): ParseResult {
  const at = frames.findIndex(frame => frame.equals(DELIMITER));
  if (at < 0) {
    return { ok: false, reason: 'no <IDS|MSG> delimiter' };
  }
  if (frames.length < at + 6) {
    return { ok: false, reason: `too few frames (${frames.length})` };
  }
  const signature = frames[at + 1];
  const body = frames.slice(at + 2, at + 6);
  if (!signer.verify(signature, body)) {
    return { ok: false, reason: 'bad signature' };
  }
  try {
    const [header, parent, metadata, content] = body.map(frame =>
      JSON.parse(frame.toString('utf8'))
    );
    return {
      ok: true,
      message: {
        header,
        parent_header: parent,
        metadata,
        content,
        buffers: frames.slice(at + 6),
        identities: frames.slice(0, at)
      }
    };
  } catch (error) {
    return { ok: false, reason: `invalid JSON: ${(error as Error).message}` };
  }
}
