import { createHash } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type { StoredTemplate } from '../inbox/inbox-store.js';
import { renderTemplate } from '../inbox/template.js';
import type { SendOutcome } from './outcome.js';

/**
 * Email over SMTP with nodemailer. Subject, text and HTML are rendered with the inbox's
 * template system: the templates `email` (title → subject, message → text body) and
 * `email.html` (message → HTML body), or `digest` / `digest.html` for digests, when an admin
 * has stored them with `PUT /templates/{name}`; else the built-in ones below. HTML templates
 * get every value HTML-escaped, so a notification's text can never inject markup.
 */

export interface SmtpSettings {
  readonly host: string;
  readonly port: number;
  /** `starttls`: upgrade when offered; `require`: refuse without STARTTLS; `implicit`: TLS from the start (465); `off`. */
  readonly tls: 'starttls' | 'require' | 'implicit' | 'off';
  readonly user: string;
  readonly password: string;
  readonly from: string;
  readonly rejectUnauthorized: boolean;
  readonly timeoutMs: number;
}

export interface EmailContent {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

export interface EmailNotification {
  readonly id: string;
  readonly title: string;
  readonly body: string;
  readonly url?: string | undefined;
  readonly category?: string | undefined;
  readonly priority: string;
  readonly createdAt: number;
}

const BUILT_IN: Record<string, StoredTemplate> = {
  email: {
    name: 'email',
    title: '{{title}}',
    body: '{{body}}\n\n{{link}}\n--\nSent by Herald. Change what reaches you by email in your notification settings.',
    updatedAt: 0,
  },
  'email.html': {
    name: 'email.html',
    title: '{{title}}',
    body: '<!doctype html><html><body><h1 style="font-size:18px">{{title}}</h1><p style="white-space:pre-wrap">{{body}}</p>{{linkHtml}}<hr><p style="color:#666;font-size:12px">Sent by Herald. Change what reaches you by email in your notification settings.</p></body></html>',
    updatedAt: 0,
  },
  digest: {
    name: 'digest',
    title: '{{count}} unread notifications',
    body: 'You have {{count}} unread notifications:\n\n{{items}}\n--\nSent by Herald ({{period}} digest).',
    updatedAt: 0,
  },
  'digest.html': {
    name: 'digest.html',
    title: '{{count}} unread notifications',
    body: '<!doctype html><html><body><h1 style="font-size:18px">You have {{count}} unread notifications</h1><ul>{{itemsHtml}}</ul><hr><p style="color:#666;font-size:12px">Sent by Herald ({{period}} digest).</p></body></html>',
    updatedAt: 0,
  },
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

type TemplateLookup = (name: string) => Promise<StoredTemplate | undefined>;

async function pair(
  lookup: TemplateLookup,
  name: string,
  text: Map<string, string>,
  html: Map<string, string>,
): Promise<EmailContent> {
  const t = (await lookup(name)) ?? BUILT_IN[name]!;
  const h = (await lookup(`${name}.html`)) ?? BUILT_IN[`${name}.html`]!;
  const escaped = new Map([...text].map(([k, v]) => [k, escapeHtml(v)]));
  for (const [k, v] of html) escaped.set(k, v);
  const rt = renderTemplate(t, text);
  return {
    subject: rt.title.replace(/[\r\n]+/g, ' '),
    text: rt.body,
    html: renderTemplate(h, escaped).body,
  };
}

function variables(n: EmailNotification): Map<string, string> {
  return new Map([
    ['id', n.id],
    ['title', n.title],
    ['body', n.body],
    ['url', n.url ?? ''],
    ['link', n.url ? `Open: ${n.url}` : ''],
    ['category', n.category ?? ''],
    ['priority', n.priority],
    ['createdAt', new Date(n.createdAt).toISOString()],
  ]);
}

export function renderEmail(lookup: TemplateLookup, n: EmailNotification): Promise<EmailContent> {
  const linkHtml = n.url ? `<p><a href="${escapeHtml(n.url)}">Open</a></p>` : '';
  return pair(lookup, 'email', variables(n), new Map([['linkHtml', linkHtml]]));
}

export function renderDigest(
  lookup: TemplateLookup,
  period: string,
  items: readonly EmailNotification[],
): Promise<EmailContent> {
  const text = items.map((n) => `- ${n.title}: ${n.body}${n.url ? ` (${n.url})` : ''}`).join('\n');
  const html = items
    .map(
      (n) =>
        `<li><strong>${escapeHtml(n.title)}</strong>: ${escapeHtml(n.body)}${
          n.url ? ` <a href="${escapeHtml(n.url)}">Open</a>` : ''
        }</li>`,
    )
    .join('');
  return pair(
    lookup,
    'digest',
    new Map([
      ['count', String(items.length)],
      ['items', text],
      ['period', period],
    ]),
    new Map([['itemsHtml', html]]),
  );
}

/** SMTP reply codes 4xx are transient (RFC 5321 §4.2.1); 5xx are not. */
function smtpOutcome(err: unknown): SendOutcome {
  const e = err as { responseCode?: number; response?: string; code?: string; message?: string };
  const reason = `SMTP: ${e.response ?? e.message ?? String(err)}`.slice(0, 500);
  if (typeof e.responseCode === 'number' && e.responseCode >= 500)
    return { kind: 'failed', reason };
  return { kind: 'retry', reason };
}

export class EmailSender {
  private readonly transport: Transporter;

  constructor(private readonly smtp: SmtpSettings) {
    this.transport = nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.tls === 'implicit',
      requireTLS: smtp.tls === 'require',
      ignoreTLS: smtp.tls === 'off',
      ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password } } : {}),
      tls: { rejectUnauthorized: smtp.rejectUnauthorized },
      connectionTimeout: smtp.timeoutMs,
      greetingTimeout: smtp.timeoutMs,
      socketTimeout: smtp.timeoutMs,
    });
  }

  /**
   * Sends one message. Its Message-ID is derived from the job id, so in the rare case the
   * server accepted a message whose acceptance Herald never heard of (a crash in between), the
   * repeat carries the same Message-ID and mail clients show it once.
   */
  async send(to: string, jobId: string, content: EmailContent): Promise<SendOutcome> {
    const domain = /@([^>\s]+)>?\s*$/.exec(this.smtp.from)?.[1] ?? 'herald.invalid';
    const hash = createHash('sha256').update(jobId).digest('base64url').slice(0, 32);
    try {
      await this.transport.sendMail({
        from: this.smtp.from,
        to,
        subject: content.subject,
        text: content.text,
        html: content.html,
        messageId: `<${hash}@${domain}>`,
        headers: { 'X-Herald-Delivery': jobId, 'Auto-Submitted': 'auto-generated' },
      });
      return { kind: 'sent' };
    } catch (err) {
      return smtpOutcome(err);
    }
  }

  close(): void {
    this.transport.close();
  }
}
