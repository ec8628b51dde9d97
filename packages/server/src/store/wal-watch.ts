/**
 * When the WAL checkpoint thread (`sqlite-checkpointer.ts`) asks the store to hold its appends
 * for a RESTART: once per long WAL. It is told the WAL's length (frames) after every pass.
 *
 * - A long WAL is reported once; until the store's RESTART is over the thread makes no pass
 *   (`waiting`), so the RESTART the appends wait for starts as soon as it is asked for.
 * - After a RESTART the WAL keeps its length until the store's next commit starts it over, so
 *   passes that see that same length report nothing. Reporting them made the store hold its
 *   appends a second time for nothing: every other hold, 35-62 ms each at 10,125 events/s
 *   (traced). A WAL that grows past that length was not started over (another process read
 *   from it, say) and is reported again, as is one whose RESTART gave up.
 */
export class WalWatch {
  private state: 'short' | 'reported' | 'restarted' = 'short';
  /** The WAL's length when the last RESTART ended. */
  private restartedAt = 0;

  constructor(private readonly restartFrames: number) {}

  /** True while a report waits for the store's RESTART: no pass should run meanwhile. */
  get waiting(): boolean {
    return this.state === 'reported';
  }

  /** Called after a pass with the WAL's length; true: report the WAL as long now. */
  afterPass(frames: number): boolean {
    if (frames < this.restartFrames) {
      this.state = 'short';
      return false;
    }
    if (this.state === 'restarted' && frames <= this.restartedAt) return false;
    if (this.state === 'reported') return false;
    this.state = 'reported';
    return true;
  }

  /** Called when the RESTART is over: `busy` when it gave up, `frames` the WAL's length. */
  afterRestart(busy: boolean, frames: number): void {
    this.state = busy ? 'short' : 'restarted';
    this.restartedAt = frames;
  }
}
