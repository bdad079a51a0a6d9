package io.roster.nacos;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.time.Duration;
import java.util.List;

/** The contract suite against the in-JVM {@link NacosStandIn}, through {@code Registries.open("nacos://...")}. */
class NacosContractTest extends RegistryContract {
    private static NacosStandIn server;

    @BeforeAll
    static void startServer() {
        server = NacosStandIn.start();
        NacosFixture.startJvmWideClientThreads(() -> Registries.open("nacos://" + server.address()));
    }

    @AfterAll
    static void stopServer() {
        server.close();
    }

    @Override
    protected RegistryFixture fixture() {
        return new NacosFixture(() -> Registries.open("nacos://" + server.address() + "?timeout=3s"));
    }

    /** The fixture for a Nacos server, stand-in or real. */
    static final class NacosFixture implements RegistryFixture {
        private final java.util.function.Supplier<Registry> opener;

        NacosFixture(java.util.function.Supplier<Registry> opener) {
            this.opener = opener;
        }

        /**
         * Opens and closes one registry before the suite. The first nacos-client in a JVM starts nacos-client's
         * JVM-wide event threads ({@code NotifyCenter}'s publishers: {@code nacos.publisher-...SlowEvent},
         * {@code ...InstancesChangeEvent}, {@code ...NamingFuzzyWatchLoadEvent}, {@code ...NamingFuzzyWatchNotifyEvent},
         * {@code ...AbilityUpdateEvent}), which every nacos-client of the JVM shares and which live until the JVM
         * exits; stopping them would break the other clients. Started here, they are not counted against the
         * registry in case 14, which still sees every thread a registry starts for itself.
         */
        static void startJvmWideClientThreads(java.util.function.Supplier<Registry> opener) {
            opener.get().close();
        }

        @Override
        public Registry open() {
            return opener.get();
        }

        @Override
        public void kill(Registry registry) {
            ((NacosRegistry) registry).kill();
        }

        @Override
        public Duration deathBound() {
            return Duration.ofSeconds(10); // the server drops a closed connection's instances at once
        }

        @Override
        public Duration propagationBound() {
            return Duration.ofSeconds(15);
        }

        @Override
        public boolean isServerThread(Thread thread) {
            return NacosStandIn.isStandInThread(thread);
        }

        @Override
        public List<ServiceInstance> backendInvalidInstances(String service) {
            return List.of(
                    TestInstances.instance(service, "kind").metadata("kind", "grpc").build(),
                    TestInstances.instance(service, "version").metadata("version", "v9").build(),
                    TestInstances.instance(service, "key").metadata(NacosLayout.INSTANCE_KEY, "x#1/1").build(),
                    TestInstances.instance(service + ".grpc", "suffix").build(),
                    ServiceInstance.builder().name(service).id("no-endpoints").build(),
                    TestInstances.instance(service + "-\u4e2d\u6587", "cjk").build());
        }
    }
}
