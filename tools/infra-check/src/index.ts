export { APPS, INFRA_DIR, REPO_ROOT, TOOLS_DIR, type AppName } from './paths';
export {
  NGINX_DEFAULTS,
  nginxAvailable,
  optionsFromEnv,
  renderNginxConfig,
  startNginx,
  testNginxConfig,
  writeNginxConfig,
  type NginxOptions,
  type NginxTestResult,
  type NginxUpstream,
  type RunningNginx,
  type WrittenNginxConfig,
} from './nginx';
export { headerCount, httpRequest, runLoad, type HttpRequestOptions, type HttpResponse } from './http-client';
export { startEchoUpstream, type EchoUpstream, type SeenRequest } from './echo-upstream';
export {
  expandVars,
  loadDockerIgnore,
  parseDockerfile,
  parseExecForm,
  parseKeyValues,
  splitFlags,
  type DockerIgnore,
  type Instruction,
} from './dockerfile';
export {
  dryRunDockerfile,
  inspectAppImage,
  type DryRunOptions,
  type DryRunResult,
  type DryRunStage,
  type DryRunStep,
} from './image-dry-run';
export { smokeStartApp, type SmokeResult } from './smoke';
export {
  dependenciesOf,
  environmentOf,
  interpolate,
  loadCompose,
  MissingVariableError,
  variablesOf,
  type ComposeFile,
  type ComposeService,
} from './compose';
export { ensureK8sTools, K8S_TOOLS_PACKAGE, type K8sTools } from './k8s-tools';
export { parseManifests, validateManifests, type K8sObject } from './k8s-validate';
