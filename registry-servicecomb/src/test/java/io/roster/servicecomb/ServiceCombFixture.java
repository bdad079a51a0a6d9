package io.roster.servicecomb;

import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.RegistryFixture;
import io.roster.testkit.TestInstances;

import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The contract suite's view of ServiceComb: registries with a short heartbeat against one service-center (the
 * stand-in, whose minimums allow it, or a real one), killed by stopping their heartbeats, and service-center's
 * naming rules as backend-specific bad input.
 */
final class ServiceCombFixture implements RegistryFixture {
    static final Duration HEARTBEAT = Duration.ofSeconds(1);
    static final int TIMES = 2;
    /** heartbeat × (times + 1). */
    static final Duration TTL = Duration.ofSeconds(3);

    private final Supplier<ServiceCombRegistry.Builder> builder;
    private final Duration ttl;
    private final Predicate<Thread> serverThreads;

    ServiceCombFixture(Supplier<ServiceCombRegistry.Builder> builder, Duration ttl, Predicate<Thread> serverThreads) {
        this.builder = builder;
        this.ttl = ttl;
        this.serverThreads = serverThreads;
    }

    /** Registries on the service-center at {@code address}, with the fixture's short heartbeat. */
    static ServiceCombRegistry.Builder registry(String address) {
        return ServiceCombRegistry.builder().address(address).heartbeat(HEARTBEAT).times(TIMES)
                .timeout(Duration.ofSeconds(3)).refresh(Duration.ofSeconds(5));
    }

    @Override
    public Registry open() {
        return builder.get().build();
    }

    @Override
    public void kill(Registry registry) {
        ((ServiceCombRegistry) registry).kill();
    }

    @Override
    public Duration deathBound() {
        return ttl.plus(propagationBound()); // the instance expires, the DELETE event reaches watchers
    }

    @Override
    public boolean isServerThread(Thread thread) {
        return serverThreads.test(thread);
    }

    @Override
    public List<ServiceInstance> backendInvalidInstances(String service) {
        return List.of(
                TestInstances.instance(service, "v").version("latest").build(),
                TestInstances.instance(service, "big").version("1.40000.0").build(),
                TestInstances.instance(service, "five").version("1.2.3.4.5").build(),
                TestInstances.instance(service, "colon:id").build(),
                TestInstances.instance(service, "i".repeat(65)).build(),
                TestInstances.instance(service + "_", "trailing").build(),
                TestInstances.instance("a".repeat(129), "long").build(),
                TestInstances.instance(service, "app").metadata("appId", "x").build(),
                TestInstances.instance(service, "env").metadata("environment", "x").build(),
                TestInstances.instance(service, "rv").metadata("roster.version", "x").build());
    }
}
