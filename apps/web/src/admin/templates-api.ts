import type { HeraldApi } from '@herald/client/inbox';

export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** A template as `GET /templates` lists it (docs/inbox.md#templates). */
export interface Template {
  name: string;
  title: string;
  message: string;
  category?: string;
  priority?: Priority;
  url?: string;
  variables: string[];
  updatedAt: string;
}

export const listTemplates = (api: HeraldApi) =>
  api.get<{ templates: Template[] }>('/templates').then((r) => r.templates);

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** The variables a text uses, in order of first use (as the server counts them). */
export function variablesOf(...texts: string[]): string[] {
  const names: string[] = [];
  for (const text of texts) {
    for (const m of text.matchAll(PLACEHOLDER)) if (!names.includes(m[1]!)) names.push(m[1]!);
  }
  return names;
}

/** The preview of a text: each `{{name}}` filled from `values`, or left as `{{name}}`. */
export function fillTemplate(text: string, values: Record<string, string>): string {
  return text.replace(PLACEHOLDER, (all, name: string) => values[name] || all);
}
