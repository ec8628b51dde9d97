import type { HeraldEvent } from '@herald/client';
import type { Notification } from '@herald/client/inbox';
import { useChannel } from '@herald/react';
import { useCallback } from 'react';
import { showDesktop } from '../lib/browser-notifications.js';
import { useToasts } from './Toasts.js';

interface JobNotice {
  jobId?: string;
  progress?: number;
  title?: string;
  message?: string;
  status?: string;
}

function jobToast(e: HeraldEvent) {
  const d = (typeof e.data === 'object' && e.data ? e.data : {}) as JobNotice;
  const jobId = d.jobId ?? 'job';
  const step = e.type.slice('job.'.length);
  const progress =
    typeof d.progress === 'number'
      ? d.progress
      : step === 'completed' || step === 'done' || step === 'failed'
        ? 100
        : 0;
  return {
    id: `job:${jobId}`,
    title: d.title ?? `Job ${jobId}`,
    body: d.message ?? (step === 'progress' ? `${Math.round(progress)}% done` : step),
    progress,
  };
}

/**
 * Toasts (and desktop notifications, when allowed) for what arrives on the user's channel and
 * on "broadcast": new notifications, and `job.*` notices with their progress in one toast per
 * job. The inbox keeps the list; this only announces.
 */
export function LiveNotices({ userId }: { userId: string }) {
  const toasts = useToasts();
  const onEvent = useCallback(
    (e: HeraldEvent) => {
      if (e.type === 'notification') {
        const n = e.data as Notification;
        if (n.muted) return;
        toasts.show({
          id: `n:${n.id}`,
          title: n.title,
          body: n.message,
          priority: n.priority,
        });
        showDesktop(n.title, n.message, n.id);
      } else if (e.type.startsWith('job.')) {
        const t = jobToast(e);
        toasts.show(t);
        if (t.progress >= 100) showDesktop(t.title, t.body, t.id);
      }
    },
    [toasts],
  );
  useChannel(`user:${userId}`, onEvent);
  useChannel('broadcast', onEvent);
  return null;
}
