/**
 * What the HTTP API needs from whatever executes runs in this process (the run service). The API only
 * writes rows; this is how it tells the executor that something it wrote needs acting on now rather
 * than at the next poll.
 */
export interface RunController {
  /** A Pending run exists (just created or retried): claim and start it now instead of at the next poll. */
  wake(): void;
  /**
   * Interrupts the run if it is executing in this process and resolves true once the interrupt was
   * asked for (the run service then ends the run Cancelled and appends its events). False when this
   * process is not running it: the API then leaves the run to its owner or its lease.
   */
  cancel(runId: string): Promise<boolean>;
  /**
   * Resolves once the run executing in this process has ended and its end was written (at once when it
   * is not executing here): a flow's deletion waits for its cancelled runs, so none writes to rows
   * deleted under it.
   */
  whenEnded?(runId: string): Promise<void>;
}
