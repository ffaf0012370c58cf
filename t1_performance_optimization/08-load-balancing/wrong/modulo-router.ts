/**
 * Wrong (on purpose): the balancer is power-of-two-choices, but keys are still placed with `hash(key) % N`. It is
 * even and stateless, and when N changes almost every key maps somewhere else: an 11th cache node makes 10 keys in
 * 11 miss at once, right when the cluster was scaled up to absorb load.
 *
 * What differs from after.ts: createKeyRouter, which is still before.ts's (`hash(key) % N` over the backends in the
 * order they joined); createBalancer is after.ts's.
 *
 * @rejected-with an 11th backend joining moved 90.8% of the keys
 */
export { createKeyRouter } from '../before.ts';
export { createBalancer, type Balancer, type BalancerOptions, type BackendSpec, type KeyRouter, type KeyRouterOptions } from '../after.ts';
