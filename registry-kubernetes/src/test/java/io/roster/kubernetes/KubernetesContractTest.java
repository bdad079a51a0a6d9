package io.roster.kubernetes;

import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.BeforeAll;

import java.time.Duration;
import java.util.List;

/**
 * The contract suite against fabric8's mock API server: each {@code open()} is a process in a pod of its own, each
 * instance it registers a pod of its own ({@link PodProcess}); a killed process's pods turn NotReady.
 */
class KubernetesContractTest extends RegistryContract {
    private static KubernetesTestServer server;

    @BeforeAll
    static void startServer() {
        server = KubernetesTestServer.shared();
    }


    @Override
    protected RegistryFixture fixture() {
        return new RegistryFixture() {
            @Override
            public Registry open() {
                return new PodProcess(server);
            }

            @Override
            public void kill(Registry registry) {
                ((PodProcess) registry).kill();
            }

            @Override
            public Duration deathBound() {
                return Duration.ofSeconds(10); // NotReady reaches informers at once; generous for a loaded machine
            }

            @Override
            public boolean isServerThread(Thread thread) {
                return server.isServerThread(thread);
            }

            @Override
            public List<ServiceInstance> backendInvalidInstances(String service) {
                return List.of(
                        TestInstances.instance("n" + "a".repeat(63), "too-long-name").build(),
                        TestInstances.instance(service + ":x", "colon-in-name").build(),
                        TestInstances.instance(service + "-", "name-ending-in-dash").build(),
                        TestInstances.instance(service, "plus-in-version").version("v1.0.0+meta").build(),
                        TestInstances.instance(service, "id:with:colons").build(),
                        TestInstances.instance(service, "i".repeat(64)).build(),
                        TestInstances.instance(service, "two-schemes").endpoint("http://127.0.0.1:1")
                                .endpoint("grpc://127.0.0.1:1").build());
            }
        };
    }
}
