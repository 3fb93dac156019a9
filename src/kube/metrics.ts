// Prometheus metrics (prom-client) on a registry of their own, never the global one. Labels are small fixed
// sets (component, resource, cause, reason, result, mode), never pod or namespace names.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InformerHooks } from './informer.js';

export class KubeMetrics {
  readonly registry = new Registry();
  readonly relists: Counter<'resource' | 'cause'>;
  readonly watchRestarts: Counter<'resource' | 'cause'>;
  readonly cached: Gauge<'resource'>;
  readonly reconciles: Counter<'result'>;
  readonly reconcileSeconds: Histogram;
  readonly events: Counter<'reason' | 'type'>;
  readonly admissions: Counter<'mode' | 'result'>;
  readonly admissionSeconds: Histogram;
  readonly leader: Gauge;
  readonly podCheckErrors: Counter<'check'>;

  constructor(readonly component: 'controller' | 'agent', o: { defaultMetrics?: boolean } = {}) {
    this.registry.setDefaultLabels({ component });
    const r = [this.registry];
    this.relists = new Counter({ name: 'lsmns_informer_relists_total', help: 'Informer relists by cause (startup, gone, watchdog, error)', labelNames: ['resource', 'cause'], registers: r });
    this.watchRestarts = new Counter({ name: 'lsmns_informer_watch_restarts_total', help: 'Watch restarts by cause (closed, error)', labelNames: ['resource', 'cause'], registers: r });
    this.cached = new Gauge({ name: 'lsmns_informer_cached_objects', help: 'Objects held in the informer cache', labelNames: ['resource'], registers: r });
    this.reconciles = new Counter({ name: 'lsmns_reconcile_total', help: 'Pod reconciles by result', labelNames: ['result'], registers: r });
    this.reconcileSeconds = new Histogram({ name: 'lsmns_reconcile_duration_seconds', help: 'Time to reconcile one pod', buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1], registers: r });
    this.events = new Counter({ name: 'lsmns_events_total', help: 'Kubernetes Events recorded by reason', labelNames: ['reason', 'type'], registers: r });
    this.admissions = new Counter({ name: 'lsmns_admission_reviews_total', help: 'Admission reviews by delivery mode and result (allowed, patched, denied, error)', labelNames: ['mode', 'result'], registers: r });
    this.admissionSeconds = new Histogram({ name: 'lsmns_admission_duration_seconds', help: 'Time to answer one AdmissionReview', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25], registers: r });
    this.leader = new Gauge({ name: 'lsmns_leader', help: '1 while this replica holds the Lease', registers: r });
    this.podCheckErrors = new Counter({ name: 'lsmns_agent_pod_check_errors_total', help: 'Pods the node agent\'s pass skipped, by check (label-read: a container\'s label could not be read; pod: any other failure); each is judged again on the next pass', labelNames: ['check'], registers: r });
    if (o.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  informerHooks(): InformerHooks {
    return {
      relisted: (resource, cause, items) => { this.relists.inc({ resource, cause }); this.cached.set({ resource }, items); },
      restarted: (resource, cause) => this.watchRestarts.inc({ resource, cause }),
    };
  }
}
