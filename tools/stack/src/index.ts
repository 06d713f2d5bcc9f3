export {
  startStack,
  stackConfigSchema,
  ROOT,
  type Stack,
  type StackConfig,
  type StackOptions,
} from './stack';
export { Supervisor, isReady, runOnce, type ProcessSpec } from './supervisor';
export { seedDemo, DEMO } from './seed';
export { STACK_DB } from './infra';
