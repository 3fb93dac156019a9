// Events on the Pod with the stable reasons of SPEC §3. A repeat of the same (object, reason, message) bumps
// the count with a PATCH instead of creating a new Event, as kubelet's recorder does.

import type { KubeApi } from './client.js';
import type { Logger } from './informer.js';

export const EventReasons = ['NamespaceCreated', 'PolicyLoaded', 'InvalidAnnotation', 'NotPossibleOnNode', 'Confined', 'RestartRequired'] as const;
export type EventReason = (typeof EventReasons)[number];

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

export interface EventRecorderOptions {
  api: KubeApi;
  component: string;
  host?: string;
  now?: () => number;
  logger?: Logger;
  /** How many distinct (object, reason, message) keys are remembered for counting. */
  maxKeys?: number;
  onRecorded?: (reason: EventReason, type: 'Normal' | 'Warning') => void;
}

const WARNING: ReadonlySet<EventReason> = new Set(['InvalidAnnotation', 'NotPossibleOnNode', 'RestartRequired']);
/** Event messages are capped by the API server at 1 KiB. */
const MAX_MESSAGE = 1024;

export class EventRecorder {
  private readonly seen = new Map<string, { name: string; count: number }>();
  private seq = 0;

  constructor(private readonly o: EventRecorderOptions) {}

  async record(pod: PodRef, reason: EventReason, message: string): Promise<void> {
    const now = new Date((this.o.now ?? Date.now)()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const msg = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    const type = WARNING.has(reason) ? 'Warning' : 'Normal';
    const key = `${pod.uid}\0${reason}\0${msg}`;
    const prior = this.seen.get(key);
    try {
      if (prior) {
        prior.count += 1;
        await this.o.api.patch(`/api/v1/namespaces/${pod.namespace}/events/${prior.name}`, { count: prior.count, lastTimestamp: now }, 'merge');
      } else {
        const name = `${pod.name}.${Date.now().toString(16)}${(this.seq++ % 4096).toString(16).padStart(3, '0')}`;
        await this.o.api.create(`/api/v1/namespaces/${pod.namespace}/events`, {
          apiVersion: 'v1', kind: 'Event',
          metadata: { name, namespace: pod.namespace },
          involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid },
          reason, message: msg, type, count: 1, firstTimestamp: now, lastTimestamp: now,
          source: { component: this.o.component, ...(this.o.host ? { host: this.o.host } : {}) },
          reportingComponent: `lsmns.io/${this.o.component}`, reportingInstance: this.o.host ?? this.o.component,
        });
        if (this.seen.size >= (this.o.maxKeys ?? 4096)) this.seen.delete(this.seen.keys().next().value!);
        this.seen.set(key, { name, count: 1 });
      }
      this.o.onRecorded?.(reason, type);
    } catch (e) {
      // An Event is advice; failing to post one must not stop reconciling.
      this.o.logger?.warn({ reason, pod: `${pod.namespace}/${pod.name}`, err: (e as Error).message }, 'cannot record event');
    }
  }
}
