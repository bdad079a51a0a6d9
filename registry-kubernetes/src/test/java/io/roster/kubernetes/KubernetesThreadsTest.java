package io.roster.kubernetes;

import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.ThreadLeaks;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

import static io.roster.kubernetes.KubernetesTestServer.NAMESPACE;
import static io.roster.kubernetes.KubernetesTestServer.port;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * No informer, thread or connection of a registry outlives {@code close()}, including right after a watch closed (the
 * case that leaked the JDK HttpClient's selector thread with fabric8's own JDK client factory).
 */
class KubernetesThreadsTest {
    private static KubernetesTestServer server;

    @BeforeAll
    static void start() {
        server = KubernetesTestServer.start();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    /**
     * A registry and a service-mode registry, each with a watch closed just before the registry (its WebSocket is still
     * closing then: the case that leaked the JDK HttpClient's selector thread with fabric8's own JDK client factory),
     * one with a registration: after close no thread of theirs is alive and no TCP connection of theirs is open.
     *
     * <p>fabric8's informers and request timeouts share one JVM-wide scheduler thread, which fabric8 stops after 10 s
     * without tasks. The contract suite excuses it (the test's own client may keep it busy); here, with the registries
     * closed and the test's client idle, it must end too: nothing a registry scheduled is left on it.
     */
    @Test
    void nothingOutlivesClose() throws InterruptedException {
        int connectionsBefore = connectionsTo(server.port());
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        server.runPod("t-1", "10.6.0.1", port("grpc", 9000));
        String service = TestInstances.serviceName("threads");
        KubernetesRegistry registry = KubernetesRegistry.builder().config(server.config()).namespace(NAMESPACE)
                .podName("t-1").build();
        KubernetesRegistry slices = KubernetesRegistry.builder().config(server.config()).namespace(NAMESPACE)
                .mode(KubernetesRegistry.Mode.SERVICE).build();
        Watcher pods = registry.watch(service);
        Watcher endpoints = slices.watch(service);
        registry.register(ServiceInstance.builder().name(service).id("x").endpoint("grpc://10.6.0.1:9000").build());
        assertThat(pods.next(Duration.ofSeconds(10))).isPresent();
        assertThat(endpoints.next(Duration.ofSeconds(10))).isPresent();
        await().atMost(Duration.ofSeconds(10)).until(registry::guarding);
        assertThat(fabric8Scheduler()).as("fabric8's scheduler thread, while watches run").isNotEmpty();
        pods.close();
        endpoints.close();
        registry.close();
        slices.close();
        registry = null;
        slices = null;

        before.assertNoNewThreads(Duration.ofSeconds(10), server::isServerThread);
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500))
                .untilAsserted(() -> assertThat(fabric8Scheduler()).as("fabric8's scheduler thread").isEmpty());
        if (connectionsBefore >= 0) { // Linux: /proc/net/tcp
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                System.gc();
                assertThat(connectionsTo(server.port())).as("connections to the API server").isEqualTo(connectionsBefore);
            });
        }
    }

    private static List<Thread> fabric8Scheduler() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
                .filter(t -> t.getName().startsWith("CachedSingleThreadScheduler-")).toList();
    }

    /** Established TCP connections to a local port, from /proc/net/tcp and tcp6; -1 when they cannot be read. */
    private static int connectionsTo(int port) {
        String hexPort = String.format(Locale.ROOT, ":%04X", port);
        int count = 0;
        try {
            for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
                for (String line : Files.readAllLines(Path.of(table))) {
                    String[] f = line.trim().split("\\s+");
                    // local_address rem_address st: a client's socket has the server's port as its remote port
                    if (f.length > 3 && f[2].endsWith(hexPort) && f[3].equals("01")) {
                        count++;
                    }
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return count;
    }
}
