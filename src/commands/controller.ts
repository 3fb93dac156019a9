import { Flags } from '@oclif/core';
import { LsmnsCommand } from '../cli/base.js';
import { identityOf, jsonLogger, kubeApiFrom, kubeFlags, untilSignal } from '../cli/kube-flags.js';
import { Controller } from '../kube/controller.js';
import { DEFAULT_RUNTIME_CLASS, LABEL_DELIVERY_MODES, deliveryFrom } from '../kube/admission.js';

export default class ControllerCommand extends LsmnsCommand {
  static override summary = 'Run the lsmns controller: pod validation, Events, metrics and the mutating admission webhook.';
  static override description = [
    'Watches pods in namespaces labelled lsmns.io/enabled=true, validates their lsmns.io/ annotations with the same',
    'rules as `lsmns plan`, and records Events (the leader of the lsmns-controller Lease only). Every replica serves',
    'the HTTPS webhook at /mutate. --label-delivery picks how the AppArmor label reaches containers; a namespace',
    'overrides it with the label lsmns.io/label-delivery=shim|field.',
  ].join('\n');
  static override examples = ['<%= config.bin %> controller --label-delivery shim --tls-cert /etc/lsmns/webhook/tls.crt --tls-key /etc/lsmns/webhook/tls.key'];
  static override flags = {
    ...kubeFlags,
    'label-delivery': Flags.string({ summary: 'shim (containerd and CRI-O: the webhook sets the lsmns RuntimeClass, whose shim writes the label) or field (CRI-O only); runtimeclass is read as shim', options: [...LABEL_DELIVERY_MODES, 'runtimeclass'], default: 'shim', env: 'LSMNS_LABEL_DELIVERY' }),
    'runtime-class': Flags.string({ summary: 'the RuntimeClass whose handler runs the lsmns shim', default: DEFAULT_RUNTIME_CLASS }),
    'webhook-port': Flags.integer({ summary: 'HTTPS port of the admission webhook; 0 disables it', default: 8443 }),
    'tls-cert': Flags.string({ summary: 'webhook serving certificate (PEM)', default: '/etc/lsmns/webhook/tls.crt' }),
    'tls-key': Flags.string({ summary: 'webhook serving key (PEM)', default: '/etc/lsmns/webhook/tls.key' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ControllerCommand);
    const logger = jsonLogger('lsmns-controller');
    const c = new Controller({
      api: await kubeApiFrom(flags), namespace: flags['lsmns-namespace'], identity: identityOf(flags), logger,
      labelDelivery: deliveryFrom(flags['label-delivery']) ?? 'shim', runtimeClass: flags['runtime-class'],
      healthPort: flags['health-port'],
      webhook: flags['webhook-port'] > 0 ? { port: flags['webhook-port'], certFile: flags['tls-cert'], keyFile: flags['tls-key'] } : null,
    });
    await c.start();
    logger.info({ health: c.healthPort, webhook: c.webhookPort, labelDelivery: flags['label-delivery'] }, 'controller started');
    const sig = await untilSignal();
    logger.info({ signal: sig }, 'stopping');
    await c.stop();
  }
}
