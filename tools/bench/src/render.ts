/**
 * Re-renders a saved report (console text, Markdown, HTML) from its JSON, e.g. after changing the renderers:
 * `pnpm --filter @kv/bench exec tsx src/render.ts tools/bench/out/latest.json` (writes <name>.html and .md
 * beside it and prints the console table).
 */
import fs from 'node:fs';
import { renderConsole, renderHtml, renderMarkdown, type BenchReport } from './report';

function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: render <report.json>');
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchReport;
  const base = file.replace(/\.json$/, '');
  fs.writeFileSync(`${base}.html`, renderHtml(report));
  fs.writeFileSync(`${base}.md`, `${renderMarkdown(report)}\n\n\`\`\`\n${renderConsole(report)}\n\`\`\`\n`);
  process.stdout.write(`${renderConsole(report)}\n`);
}

main();
