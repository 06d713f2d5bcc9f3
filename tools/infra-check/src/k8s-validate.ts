import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { parseAllDocuments } from 'yaml';

/** A rendered Kubernetes object, as the checks read it. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  [key: string]: unknown;
}

// One model class per kind the chart may render. A kind missing here fails validation on purpose, so a
// new template cannot slip past the schema check.
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1/Job': Job,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'networking.k8s.io/v1/Ingress': Ingress,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

/** Parses `helm template` output (multi-document YAML) into objects, skipping empty documents. */
export function parseManifests(text: string): K8sObject[] {
  const docs = parseAllDocuments(text);
  const out: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`invalid YAML in rendered chart: ${doc.errors[0]!.message}`);
    const v = doc.toJS({ maxAliasCount: -1 }) as K8sObject | null;
    if (v) out.push(v);
  }
  return out;
}

/**
 * Validates each object against the Kubernetes OpenAPI schema of its kind (kubernetes-models, K8s 1.33
 * era; the Prometheus Operator CRD for ServiceMonitor). Returns `kind/name: problem` strings; empty when
 * all are valid. Note: these schemas check types, required fields and enums, not unknown field names.
 */
export function validateManifests(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const key = `${o.apiVersion}/${o.kind}`;
    const Model = MODELS[key];
    if (!Model) {
      problems.push(`${key}/${o.metadata?.name}: no schema known for this kind`);
      continue;
    }
    try {
      new Model(o as never).validate();
    } catch (err) {
      problems.push(`${o.kind}/${o.metadata?.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return problems;
}
