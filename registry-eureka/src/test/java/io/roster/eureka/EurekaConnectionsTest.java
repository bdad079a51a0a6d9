package io.roster.eureka;

import io.roster.Registry;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.ThreadLeaks;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Connections and threads against the real server: {@code close()} leaves none of either, at once and on Java 17,
 * whose JDK {@code HttpClient} kept its sockets and selector thread until the garbage collector found it. Counted
 * in the kernel's table of TCP connections ({@code /proc/net/tcp}, {@code tcp6}): the established ones to the
 * server's port, by local port, so that connections other clients held before the test do not count.
 */
@ExtendWith(SharedEurekaServer.class)
class EurekaConnectionsTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private static final Path TCP = Path.of("/proc/net/tcp");
    private static final Path TCP6 = Path.of("/proc/net/tcp6");

    @Test
    void registriesOpenedAndClosedInTurnLeaveNoConnectionAndNoThread() throws Exception {
        assumeTrue(Files.isReadable(TCP), "needs Linux's /proc/net/tcp");
        int port = SharedEurekaServer.server().port();
        Set<Integer> before = established(port);
        Set<Thread> threadsBefore = Set.copyOf(Thread.getAllStackTraces().keySet());
        ThreadLeaks.Snapshot snapshot = ThreadLeaks.snapshot();
        String service = TestInstances.serviceName("turns");
        int seen = 0;
        for (int i = 0; i < 6; i++) {
            Registry registry = EurekaRegistry.builder().serverUrl(SharedEurekaServer.server().url())
                    .renewalInterval(Duration.ofMillis(250)).leaseDuration(Duration.ofSeconds(3))
                    .refreshInterval(Duration.ofMillis(200)).build();
            Set<String> ids = Set.of("turn-" + i + "-a", "turn-" + i + "-b");
            ids.forEach(id -> registry.register(TestInstances.of(service, id)));
            try (Watcher watcher = registry.watch(service)) {
                Watching.awaitIds(watcher, BOUND, ids);
            }
            assertThat(registry.getService(service)).hasSize(2);
            assertThat(registry.services()).contains(service);
            Watcher leftOpen = registry.watch(service); // its poll is aborted by close()
            seen = Math.max(seen, opened(port, before).size());

            registry.close(); // deregisters, then closes every socket before it returns

            assertThat(opened(port, before)).as("connections still established after close() of registry %d", i)
                    .isEmpty();
            leftOpen.close();
        }
        assertThat(seen).as("connections seen while the registries were open").isPositive();
        // No garbage collection here (ThreadLeaks runs it): the JDK client's selector thread ended only with it.
        await().atMost(BOUND).untilAsserted(() -> assertThat(Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && !threadsBefore.contains(t))
                .map(Thread::getName)
                .filter(n -> n.startsWith("roster-") || n.startsWith("HttpClient-")))
                .as("client threads alive after close()").isEmpty());
        snapshot.assertNoNewThreads(BOUND, t -> EurekaTestServer.isServerThread(t)
                || t.getName().startsWith("test-"));
        try (RawEureka raw = new RawEureka(SharedEurekaServer.server().url())) {
            assertThat(raw.instances(EurekaInstances.app(service))).as("every instance deregistered").isEmpty();
        }
    }

    /** Established connections to 127.0.0.1:{@code port} opened since {@code before}. */
    private static Set<Integer> opened(int port, Set<Integer> before) {
        Set<Integer> now = established(port);
        now.removeAll(before);
        return now;
    }

    /** The local ports of the established TCP connections from this host to 127.0.0.1:{@code port}. */
    private static Set<Integer> established(int port) {
        String ipv4 = String.format("0100007F:%04X", port);
        String mapped = String.format("0000000000000000FFFF00000100007F:%04X", port);
        Set<Integer> ports = new HashSet<>();
        for (Path table : List.of(TCP, TCP6)) {
            if (!Files.isReadable(table)) {
                continue;
            }
            List<String> lines;
            try {
                lines = Files.readAllLines(table);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            // sl local_address rem_address st ...; st 01 is ESTABLISHED
            for (String line : lines.subList(1, lines.size())) {
                String[] fields = line.trim().split("\\s+");
                String remote = fields[2];
                if (fields[3].equals("01") && (remote.equals(ipv4) || remote.equals(mapped))) {
                    ports.add(Integer.parseInt(fields[1].substring(fields[1].indexOf(':') + 1), 16));
                }
            }
        }
        return ports;
    }
}
