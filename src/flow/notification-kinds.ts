/**
 * What a notification rule can ask for, shared by the server (store, API, CLI) and the wire schemas:
 * the run events it fires on and the kinds of destination it sends to.
 */

/**
 * Run events a rule can fire on: the run ended Failed, Crashed or Completed, was marked Late, or
 * Completed after its flow's previous ended run had Failed or Crashed (Recovered).
 */
export const NOTIFICATION_EVENTS = [
  'Failed',
  'Crashed',
  'Late',
  'Completed',
  'Recovered'
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

/** A Slack-compatible incoming webhook, a generic signed JSON webhook, or an e-mail address. */
export const NOTIFICATION_KINDS = ['slack', 'webhook', 'email'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** A delivery waits (Pending), is being sent (Sending), was Delivered, or gave up (Failed). */
export const DELIVERY_STATES = [
  'Pending',
  'Sending',
  'Delivered',
  'Failed'
] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];
