import { afterEach, describe, expect, it, vi } from 'vitest';
import { GroupCommit } from '../src/group-commit.js';

describe('GroupCommit', () => {
  it('runs the inputs of one turn as one group and answers each caller its own result', async () => {
    const groups: number[][] = [];
    const g = new GroupCommit<number, number>(async (inputs) => {
      groups.push([...inputs]);
      return inputs.map((n) => n * 10);
    });
    const answers = await Promise.all([1, 2, 3, 4].map((n) => g.add(n)));
    expect(answers).toEqual([10, 20, 30, 40]);
    expect(groups).toEqual([[1, 2, 3, 4]]);
    expect(await g.add(5)).toBe(50);
    expect(groups).toEqual([[1, 2, 3, 4], [5]]);
  });

  it('runs each input of a failed group alone, so one bad input fails only its caller', async () => {
    const groups: number[][] = [];
    const g = new GroupCommit<number, number>(async (inputs) => {
      groups.push([...inputs]);
      if (inputs.includes(3)) throw new Error('bad input 3');
      return inputs.map((n) => -n);
    });
    const settled = await Promise.allSettled([1, 2, 3, 4].map((n) => g.add(n)));
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : String(s.reason)))).toEqual([
      -1,
      -2,
      'Error: bad input 3',
      -4,
    ]);
    expect(groups).toEqual([[1, 2, 3, 4], [1], [2], [3], [4]]);
  });

  describe('with a window', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('opens a window only while inputs come often, then groups several turns', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
      const groups: number[][] = [];
      const g = new GroupCommit<number, number>(
        async (inputs) => {
          groups.push([...inputs]);
          return inputs.map((n) => n + 1);
        },
        { windowMs: 5 },
      );
      // Alone (no group before it): runs at the end of the turn, no wait.
      expect(await g.add(1)).toBe(2);
      expect(groups).toEqual([[1]]);
      // Right after a group: waits out the window, gathering inputs of later turns.
      const second = g.add(2);
      await new Promise<void>((resolve) => setImmediate(resolve));
      const third = g.add(3);
      expect(groups).toEqual([[1]]);
      await vi.advanceTimersByTimeAsync(5);
      expect(await Promise.all([second, third])).toEqual([3, 4]);
      expect(groups).toEqual([[1], [2, 3]]);
      // Long after the last group: no wait again.
      vi.advanceTimersByTime(50);
      expect(await g.add(4)).toBe(5);
      expect(groups).toEqual([[1], [2, 3], [4]]);
    });

    it('runs a group at once when it reaches maxInputs', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
      const groups: number[][] = [];
      const g = new GroupCommit<number, number>(
        async (inputs) => {
          groups.push([...inputs]);
          return [...inputs];
        },
        { windowMs: 60_000, maxInputs: 3 },
      );
      const full = Promise.all([1, 2, 3].map((n) => g.add(n)));
      expect(await full).toEqual([1, 2, 3]);
      // Right after a group, so it waits out the (long) window.
      const rest = g.add(4);
      expect(groups).toEqual([[1, 2, 3]]);
      await vi.advanceTimersByTimeAsync(60_000);
      expect(await rest).toBe(4);
      expect(groups).toEqual([[1, 2, 3], [4]]);
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});
