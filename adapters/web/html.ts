/** Minimal, dependency-free HTML templating: every value is escaped unless the template asks for raw. */

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ENTITIES[ch] ?? ch);
}

/** JSON safe to place inside a `<script type="application/json">` block (no `</script>` breakout). */
export function jsonForHtml(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * Fills `{{name}}` with the escaped text and `{{{name}}}` with already-built HTML. A placeholder
 * without a value is a programming error, so it throws instead of shipping a page with holes.
 */
export function fillTemplate(
  template: string,
  text: Readonly<Record<string, string>>,
  html: Readonly<Record<string, string>> = {},
): string {
  return template.replace(
    /\{\{(\{?)([A-Za-z][A-Za-z0-9]*)\}?\}\}/g,
    (_match, brace: string, name: string) => {
      const value = brace === '{' ? html[name] : text[name];
      if (value === undefined) throw new Error(`Template placeholder ${name} has no value.`);
      return brace === '{' ? value : escapeHtml(value);
    },
  );
}
