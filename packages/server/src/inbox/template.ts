import { HeraldError } from '../errors.js';
import type { StoredTemplate, TemplateSpec } from './inbox-store.js';

/**
 * Notification templates: text with `{{name}}` placeholders in the title, body and action
 * URL. A template is checked when it is saved (every `{{` opens a well-formed placeholder),
 * and rendering refuses to leave any placeholder unfilled: a missing variable is a 400 that
 * names it, never a message with a hole in it. Values are inserted as plain text; clients
 * render notifications as text, never as HTML.
 */

/** `{{ name }}`: a name of letters, digits and `_`, not starting with a digit. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function isValidTemplateName(name: string): boolean {
  return NAME.test(name);
}

/** The variables a text uses, in order of first use. */
export function variablesOf(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(PLACEHOLDER)) {
    const name = m[1]!;
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/** Throws HERALD_ERR_TEMPLATE_INVALID when `text` holds a `{{` or `}}` that is no placeholder. */
function checkText(text: string, field: string): void {
  const rest = text.replace(PLACEHOLDER, '');
  if (rest.includes('{{') || rest.includes('}}')) {
    throw new HeraldError(
      'HERALD_ERR_TEMPLATE_INVALID',
      `"${field}" has a malformed placeholder: use {{name}} with a name of letters, digits and _`,
    );
  }
}

/** Checks a template before it is saved; throws HERALD_ERR_TEMPLATE_INVALID. */
export function checkTemplate(spec: TemplateSpec): void {
  checkText(spec.title, 'title');
  checkText(spec.body, 'message');
  if (spec.url !== undefined) {
    checkText(spec.url, 'url');
    // The scheme must be fixed by the template: a variable can never turn it into javascript:.
    if (!/^https?:\/\/[^{]/i.test(spec.url)) {
      throw new HeraldError(
        'HERALD_ERR_TEMPLATE_INVALID',
        '"url" must start with http:// or https:// and a host that is not a variable',
      );
    }
  }
}

/** All variables of a template. */
export function templateVariables(t: TemplateSpec): string[] {
  const names = variablesOf(t.title);
  for (const n of [...variablesOf(t.body), ...variablesOf(t.url ?? '')]) {
    if (!names.includes(n)) names.push(n);
  }
  return names;
}

/** Variable values: strings, numbers and booleans, as text. */
export function variableValues(raw: unknown): Map<string, string> {
  if (raw === undefined) return new Map();
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new HeraldError('HERALD_ERR_BAD_REQUEST', '"variables" must be an object');
  }
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
      out.set(k, String(v));
    } else {
      throw new HeraldError(
        'HERALD_ERR_BAD_REQUEST',
        `variable "${k}" must be a string, number or boolean`,
      );
    }
  }
  return out;
}

function fill(text: string, values: Map<string, string>): string {
  return text.replace(PLACEHOLDER, (_m, name: string) => values.get(name) ?? '');
}

/** Renders a template, or throws HERALD_ERR_TEMPLATE_VARIABLE_MISSING naming what is missing. */
export function renderTemplate(
  t: StoredTemplate,
  values: Map<string, string>,
): { title: string; body: string; url: string | undefined } {
  const missing = templateVariables(t).filter((n) => !values.has(n));
  if (missing.length > 0) {
    throw new HeraldError(
      'HERALD_ERR_TEMPLATE_VARIABLE_MISSING',
      `template "${t.name}" needs ${missing.map((m) => `"${m}"`).join(', ')}`,
    );
  }
  return {
    title: fill(t.title, values),
    body: fill(t.body, values),
    url: t.url === undefined ? undefined : fill(t.url, values),
  };
}

/** An http(s) URL of at most 2,048 characters: a javascript: or data: URL would run script. */
export function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 2048) return false;
  try {
    return /^https?:$/.test(new URL(value).protocol);
  } catch {
    return false;
  }
}
