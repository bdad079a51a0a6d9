package io.roster.zookeeper;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.InstanceJson;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * How a watch reads a large service, seen on the wire through {@link ZooKeeperTap}: all of it concurrently when it
 * opens and after a reconnection, and afterwards only what changed.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ZooKeeperLargeServiceTest extends StandaloneServerTest {
    private static final Duration BOUND = Duration.ofSeconds(20);
    /** Reads in flight at once that only a pipelining reader reaches (one waiting for each reply stays at 1). */
    private static final int CONCURRENT = 100;
    private ZooKeeperTap tap;

    @BeforeEach
    void startTap() throws Exception {
        tap = new ZooKeeperTap(server.getPort());
    }

    @AfterEach
    void stopTap() throws Exception {
        tap.close();
    }

    /** A registry whose client talks to the server through the tap. */
    private Registry openThroughTap() {
        return Registries.open("zookeeper://" + tap.connectString() + "/large?sessionTimeout=10s&connectionTimeout=5s");
    }

    /** Registers instances i-0 .. i-(count-1) from another session, in one transaction. */
    private static Set<String> populate(String service, int count) throws Exception {
        plain.create().creatingParentsIfNeeded().forPath("/large/" + service);
        List<CuratorOp> creates = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < count; i++) {
            ServiceInstance instance = TestInstances.of(service, "i-" + i);
            creates.add(plain.transactionOp().create().withMode(CreateMode.EPHEMERAL).forPath(
                    "/large/" + service + "/i-" + i, InstanceJson.encode(instance).getBytes(StandardCharsets.UTF_8)));
            ids.add(instance.id());
        }
        plain.transaction().forOperations(creates);
        return ids;
    }

    @Test
    void openingAWatchReadsTheInstancesConcurrently_andAgainAfterAReconnection() throws Exception {
        String service = TestInstances.serviceName("wide");
        Set<String> ids = populate(service, 300);
        try (Registry registry = openThroughTap()) {
            tap.holdReplies(CONCURRENT, Duration.ofSeconds(3));
            Watcher watcher = registry.watch(service);
            assertThat(watcher.next(BOUND).map(Watching::ids)).contains(ids);
            assertThat(tap.maxReadsInFlight()).as("reads in flight at once on open").isGreaterThanOrEqualTo(CONCURRENT);
            int readsOnOpen = tap.readsSent();

            tap.holdReplies(CONCURRENT, Duration.ofSeconds(3));
            tap.dropConnections(); // the client reconnects on the same session and reads the service again

            await().atMost(BOUND).until(() -> tap.readsSent() >= readsOnOpen + ids.size());
            assertThat(tap.maxReadsInFlight()).as("reads in flight at once after reconnecting")
                    .isGreaterThanOrEqualTo(CONCURRENT);
            plain.delete().forPath("/large/" + service + "/i-0");
            Set<String> rest = new HashSet<>(ids);
            rest.remove("i-0");
            Watching.awaitIds(watcher, BOUND, rest);
        }
    }

    @Test
    void aChangeReadsOnlyTheInstanceThatChanged_andARemovalReadsNothing() throws Exception {
        String service = TestInstances.serviceName("o-change");
        Set<String> ids = populate(service, 50);
        try (Registry registry = openThroughTap(); Registry registrar = open("/large");
             Watcher watcher = registry.watch(service)) {
            assertThat(watcher.next(BOUND).map(Watching::ids)).contains(ids);
            int reads = tap.readsSent();

            plain.delete().forPath("/large/" + service + "/i-7");
            Set<String> expected = new HashSet<>(ids);
            expected.remove("i-7");
            Watching.awaitIds(watcher, BOUND, expected);
            assertThat(tap.readsSent()).as("reads for a removal").isEqualTo(reads);

            ServiceInstance added = TestInstances.of(service, "added");
            registrar.register(added);
            expected.add("added");
            Watching.awaitIds(watcher, BOUND, expected);
            assertThat(tap.readsSent()).as("reads for one added instance").isEqualTo(reads + 1);

            ServiceInstance changed = TestInstances.instance(service, "i-8").metadata("zone", "elsewhere").build();
            plain.setData().forPath("/large/" + service + "/i-8",
                    InstanceJson.encode(changed).getBytes(StandardCharsets.UTF_8));
            Watching.awaitList(watcher, BOUND, "the changed instance", list -> list.contains(changed));
            assertThat(tap.readsSent()).as("reads for one changed instance").isEqualTo(reads + 2);
        }
    }
}
