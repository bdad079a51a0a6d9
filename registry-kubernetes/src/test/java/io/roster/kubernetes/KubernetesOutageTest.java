package io.roster.kubernetes;

import io.fabric8.kubernetes.api.model.PodBuilder;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Set;

import static io.roster.kubernetes.KubernetesTestServer.NAMESPACE;
import static io.roster.kubernetes.KubernetesTestServer.port;
import static io.roster.testkit.Watching.awaitIds;
import static io.roster.testkit.Watching.ids;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** An API-server outage: watchers keep their last list (informers keep their stores) and catch up afterwards. */
class KubernetesOutageTest {
    private static final Duration BOUND = Duration.ofSeconds(15);
    private static KubernetesTestServer server;

    @BeforeAll
    static void start() {
        server = KubernetesTestServer.start();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static void labelledPod(String name, String ip, String service) {
        server.runPod(name, ip, port("grpc", 9000));
        server.pod(name).edit(p -> new PodBuilder(p).editMetadata().addToLabels(PodLayout.ID, name)
                .addToLabels(PodLayout.APP, service).endMetadata().build());
    }

    @Test
    void watchersKeepTheLastListThroughAnOutageAndCatchUpAfterIt() throws InterruptedException {
        String service = TestInstances.serviceName("outage");
        labelledPod("o-1", "10.5.0.1", service);
        labelledPod("o-2", "10.5.0.2", service);
        try (KubernetesRegistry watching = KubernetesRegistry.builder().config(server.config()).namespace(NAMESPACE)
                .podName("o-3").build();
             KubernetesRegistry notWatching = KubernetesRegistry.builder().config(server.config())
                     .namespace(NAMESPACE).build();
             Watcher watcher = watching.watch(service)) {
            awaitIds(watcher, BOUND, Set.of("o-1", "o-2"));
            List<ServiceInstance> before = watching.getService(service);

            server.stop();
            try {
                assertThat(watcher.next(Duration.ofSeconds(2))).as("a list pushed during the outage").isEmpty();
                assertThat(watching.getService(service)).as("the watched list, served while the server is down")
                        .isEqualTo(before);
                assertThatThrownBy(() -> notWatching.getService(service))
                        .isInstanceOf(RegistryUnavailableException.class).hasMessageContaining("getService " + service);
                // A change the registries cannot see happen: their connections are down.
                server.editWhileStopped(c -> {
                    io.fabric8.kubernetes.api.model.Pod pod = c.pods().inNamespace(NAMESPACE).withName("o-2").get();
                    pod.getStatus().getConditions().forEach(cond -> cond.setStatus("False"));
                    c.pods().inNamespace(NAMESPACE).resource(pod).updateStatus();
                });
                assertThatThrownBy(() -> watching.register(ServiceInstance.builder().name(service).id("o-3")
                        .endpoint("grpc://10.5.0.3:9000").build()))
                        .isInstanceOf(RegistryUnavailableException.class);
            } finally {
                server.resume();
            }

            // Back: the informer reconnects and catches up with the change made while it was away.
            awaitIds(watcher, BOUND, Set.of("o-1"));
            assertThat(ids(notWatching.getService(service))).containsExactly("o-1");
            server.setReady("o-2", true);
            awaitIds(watcher, BOUND, Set.of("o-1", "o-2"));
        }
    }
}
