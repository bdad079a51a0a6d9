package io.roster.zookeeper;

import io.roster.InvalidInstanceException;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.InstanceJson;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.apache.zookeeper.CreateMode;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What a watcher sees beyond the contract: data changes, the service node coming and going, foreign writers. */
class ZooKeeperWatchTest extends StandaloneServerTest {
    private static final Duration BOUND = Duration.ofSeconds(10);

    private Registry open() {
        return open("/watch?sessionTimeout=3s");
    }

    @Test
    void metadataChangeOfAnExistingInstanceReachesTheWatcherWithoutTheInstanceEverMissing() throws Exception {
        Registry registrar = open();
        String service = TestInstances.serviceName("meta");
        ServiceInstance first = TestInstances.instance(service, "a").metadata("zone", "zone-a").build();
        ServiceInstance moved = first.toBuilder().metadata("zone", "zone-b").version("v1.0.1").build();
        registrar.register(first);
        try (Watcher watcher = open().watch(service)) {
            assertThat(watcher.next(BOUND)).contains(List.of(first));

            registrar.register(moved);

            List<List<ServiceInstance>> seen = new ArrayList<>();
            Watching.awaitList(watcher, BOUND, "the moved instance", list -> seen.add(list) && list.equals(List.of(moved)));
            assertThat(seen).as("every list on the way holds the instance").allSatisfy(
                    list -> assertThat(Watching.ids(list)).containsExactly("a"));
        }
    }

    @Test
    void dataChangedInPlaceByAnotherClientIsSeen() throws Exception {
        Registry registrar = open();
        String service = TestInstances.serviceName("in-place");
        ServiceInstance instance = TestInstances.of(service, "a");
        registrar.register(instance);
        try (Watcher watcher = open().watch(service)) {
            assertThat(watcher.next(BOUND)).contains(List.of(instance));
            ServiceInstance edited = instance.toBuilder().metadata("weight", "5").build();

            // Another tool edits the node's data without recreating it: Kratos's child watch misses this.
            plain.setData().forPath("/watch/" + service + "/a",
                    InstanceJson.encode(edited).getBytes(StandardCharsets.UTF_8));

            Watching.awaitList(watcher, BOUND, "the edited instance", list -> list.equals(List.of(edited)));
        }
    }

    @Test
    void serviceNodeComingAndGoing() throws Exception {
        String service = TestInstances.serviceName("lifecycle");
        String base = "/watch/" + service;
        ServiceInstance instance = TestInstances.of(service, "go");
        byte[] record = InstanceJson.encode(instance).getBytes(StandardCharsets.UTF_8);
        try (Watcher watcher = open().watch(service)) {
            assertThat(watcher.next(BOUND)).as("no service node yet").contains(List.of());

            plain.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(base + "/go", record);
            Watching.awaitIds(watcher, BOUND, Set.of("go"));

            plain.delete().deletingChildrenIfNeeded().forPath(base);
            Watching.awaitIds(watcher, BOUND, Set.of());

            plain.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL).forPath(base + "/go", record);
            Watching.awaitIds(watcher, BOUND, Set.of("go"));
        }
    }

    @Test
    void malformedChildAppearingLaterWakesNobodyAndIsSkipped() throws Exception {
        Registry registrar = open();
        String service = TestInstances.serviceName("malformed");
        registrar.register(TestInstances.of(service, "good"));
        try (Watcher watcher = open().watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("good"));

            plain.create().withMode(CreateMode.EPHEMERAL).forPath("/watch/" + service + "/bad", "{\"id\":".getBytes());

            assertThat(watcher.next(Duration.ofSeconds(1))).isEmpty();
            registrar.register(TestInstances.of(service, "later"));
            Watching.awaitIds(watcher, BOUND, Set.of("good", "later"));
            assertThat(Watching.ids(registrar.getService(service))).containsExactly("good", "later");
        }
    }

    @Test
    void namesZooKeeperCannotHoldAreRejectedForDiscoveryToo() {
        Registry registry = open();
        assertThatThrownBy(() -> registry.getService("emoji-\uD83D\uDE00")).isInstanceOf(InvalidInstanceException.class)
                .hasMessageContaining("name");
        assertThatThrownBy(() -> registry.watch("private-\uE000")).isInstanceOf(InvalidInstanceException.class);
    }
}
