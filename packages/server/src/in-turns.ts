import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Runs `slice` until it returns false, with a turn of the event loop between calls: long
 * maintenance work (retention sweeps) done in bounded pieces, so streams and publishes go on
 * while it runs.
 */
export async function inTurns(slice: () => boolean | Promise<boolean>): Promise<void> {
  while (await slice()) await nextTurn();
}
