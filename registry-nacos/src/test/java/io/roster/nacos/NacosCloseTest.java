package io.roster.nacos;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.ThreadLeaks;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Set;

import static org.awaitility.Awaitility.await;

/** close() ends every thread the registry's nacos-client started, also when the server stopped answering. */
class NacosCloseTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(2);

    @Test
    void closeWhileTheServerIsBlackHoledLeavesNoThreadBehind() throws Exception {
        try (NacosStandIn server = NacosStandIn.start(); BlackHoleProxy link = BlackHoleProxy.to(server)) {
            NacosContractTest.NacosFixture.startJvmWideClientThreads(
                    () -> Registries.open("nacos://" + server.address()));
            // gRPC's shared threads (grpc-nio-worker-ELG-*, grpc-default-executor-*) end a second after the last
            // channel closes; taken now, the snapshot would excuse them.
            await().atMost(Duration.ofSeconds(10)).until(() -> Thread.getAllStackTraces().keySet().stream()
                    .noneMatch(t -> t.isAlive() && t.getName().startsWith("grpc-")));
            ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
            Registry registry = Registries.open("nacos://" + link.address() + "?timeout=" + TIMEOUT.toMillis()
                    + "ms");
            String service = TestInstances.serviceName("black-hole");
            registry.register(TestInstances.of(service, "a"));
            try (Watcher watcher = registry.watch(service)) {
                Watching.awaitIds(watcher, Duration.ofSeconds(15), Set.of("a"));
            }

            link.blackHole(); // requests now time out, and the connection never closes from the other end
            registry.close();

            // gRPC releases its shared threads a second after the last channel ends; the rest is headroom.
            before.assertNoNewThreads(TIMEOUT.plusSeconds(3), NacosStandIn::isStandInThread);
        }
    }
}
