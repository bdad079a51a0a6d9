package io.roster.consul;

import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.RegistryFixture;
import io.roster.testkit.TestInstances;

import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The contract suite's view of Consul: registries with a short TTL against one agent (the stand-in or a real
 * Consul), killed by stopping their heartbeats, and Consul's metadata rules as backend-specific bad input.
 */
final class ConsulFixture implements RegistryFixture {
    static final Duration TTL = Duration.ofSeconds(3);
    static final Duration HEARTBEAT = Duration.ofMillis(1000);

    private final Supplier<ConsulRegistry.Builder> builder;
    private final Predicate<Thread> serverThreads;

    ConsulFixture(Supplier<ConsulRegistry.Builder> builder, Predicate<Thread> serverThreads) {
        this.builder = builder;
        this.serverThreads = serverThreads;
    }

    /** Registries on the agent at {@code address}, with the fixture's short TTL. */
    static ConsulRegistry.Builder registry(String address) {
        return ConsulRegistry.builder().address(address).ttl(TTL).heartbeat(HEARTBEAT);
    }

    @Override
    public Registry open() {
        return builder.get().build();
    }

    @Override
    public void kill(Registry registry) {
        ((ConsulRegistry) registry).kill();
    }

    @Override
    public Duration deathBound() {
        return TTL.plus(propagationBound()); // the TTL check turns critical, passing-only discovery drops it
    }

    @Override
    public boolean isServerThread(Thread thread) {
        return serverThreads.test(thread);
    }

    @Override
    public List<ServiceInstance> backendInvalidInstances(String service) {
        ServiceInstance.Builder tooMany = TestInstances.instance(service, "too-many");
        for (int i = 0; i < ConsulFormat.MAX_META_PAIRS; i++) {
            tooMany.metadata("k" + i, "v");
        }
        return List.of(
                TestInstances.instance(service, "dot").metadata("a.b", "x").build(),
                TestInstances.instance(service, "reserved").metadata("consul-x", "x").build(),
                TestInstances.instance(service, "long-key").metadata("k".repeat(129), "x").build(),
                TestInstances.instance(service, "long-value").metadata("k", "é".repeat(257)).build(),
                tooMany.build());
    }
}
