package io.roster.consul;

import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import io.roster.testkit.Watching;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Watches: Consul's blocking-query rules, request timeouts, and what a watch costs in threads. */
class ConsulWatchTest {
    private static final Duration BOUND = Duration.ofSeconds(10);

    @RegisterExtension
    static final ConsulStandIn consul = ConsulStandIn.builder().build();

    @RegisterExtension
    final OpenedRegistries opened = new OpenedRegistries();

    @AfterEach
    void normalIndexes() {
        consul.zeroIndex(false);
    }

    private ConsulRegistry open(ConsulRegistry.Builder builder) {
        return opened.track(builder.build());
    }

    private ConsulRegistry.Builder registry() {
        return ConsulFixture.registry(consul.address());
    }

    @Test
    void anIndexThatGoesBackwardsRestartsTheQueryLoop() throws Exception {
        Registry registrar = open(registry());
        String service = TestInstances.serviceName("rewind");
        registrar.register(TestInstances.of(service, "x"));
        try (Watcher watcher = open(registry().blockingQueryWait(Duration.ofSeconds(1))).watch(service)) {
            Watching.awaitIds(watcher, BOUND, Set.of("x"));

            consul.rewindIndex(); // a restored snapshot: every later index is below the one the watch waits on
            registrar.register(TestInstances.of(service, "y"));

            Watching.awaitIds(watcher, BOUND, Set.of("x", "y"));
            // Waiting on the old index again would hold every query for its whole wait until the index passes the
            // old value. By the rule, the loop starts over (index 0) and then waits on the new, low index.
            await().atMost(BOUND).untilAsserted(() -> {
                List<Long> indexes = consul.queries(service).stream().map(q -> q.index).collect(Collectors.toList());
                assertThat(indexes.subList(1, indexes.size())).contains(0L);
                assertThat(indexes).anySatisfy(index -> assertThat(index).isBetween(1L, 50L));
            });
        }
    }

    @Test
    void anIndexOfZeroIsNeverWaitedOnAndQueriesAreRateLimited() throws Exception {
        consul.zeroIndex(true); // a Consul bug: every answer says index 0, so no query would ever block
        String service = TestInstances.serviceName("zero");
        try (Watcher watcher = open(registry()).watch(service)) {
            assertThat(watcher.next(BOUND)).contains(List.of());
            int before = consul.queries(service).size();

            assertThat(watcher.next(Duration.ofSeconds(1))).isEmpty();

            List<ConsulStandIn.Query> queries = consul.queries(service);
            assertThat(queries.get(0).index).as("the first query reads").isZero();
            assertThat(queries.subList(1, queries.size())).as("then waits on index 1, never 0")
                    .allSatisfy(q -> assertThat(q.index).isEqualTo(1));
            int perSecond = queries.size() - before;
            assertThat(perSecond).as("rate-limited to one per %s, not a busy loop", ConsulWatch.MIN_GAP)
                    .isBetween(2, (int) (1000 / ConsulWatch.MIN_GAP.toMillis()) + 5);
        }
    }

    @Test
    void theRequestTimeoutDoesNotCutIdleBlockingQueries() throws Exception {
        Duration wait = Duration.ofSeconds(1);
        Registry watching = open(registry().blockingQueryWait(wait).timeout(Duration.ofMillis(300)));
        String service = TestInstances.serviceName("idle");
        try (Watcher watcher = watching.watch(service)) {
            assertThat(watcher.next(BOUND)).contains(List.of());

            await().atMost(BOUND).until(() -> consul.queries(service).size() >= 4);
        }
        List<ConsulStandIn.Query> queries = consul.queries(service);
        assertThat(queries.stream().filter(q -> q.index == 0)).as("no query failed and started over").hasSize(1);
        assertThat(queries.subList(1, queries.size())).as("each held for the whole wait")
                .allSatisfy(q -> assertThat(q.heldMillis).isGreaterThanOrEqualTo(wait.toMillis()));
    }

    @Test
    void fiftyWatchedServicesHoldAtMostHalfTheConnectionsAndEveryKindOfChangeArrives() throws Exception {
        Set<Thread> before = Set.copyOf(Thread.getAllStackTraces().keySet());
        ConsulRegistry registrar = open(registry());
        ConsulRegistry watching = open(registry().maxConnections(8)); // 2 dedicated queries, 2 for the other 48
        List<String> services = new ArrayList<>();
        List<Watcher> watchers = new ArrayList<>();
        try {
            for (int i = 0; i < 50; i++) {
                String service = TestInstances.serviceName("fifty-" + i);
                services.add(service);
                watchers.add(watching.watch(service));
            }
            for (Watcher w : watchers) {
                assertThat(w.next(BOUND)).contains(List.of());
            }
            await().atMost(BOUND).until(() -> consul.heldQueries() == 4);
            await().during(Duration.ofMillis(500)).atMost(BOUND).until(() -> consul.heldQueries() <= 4
                    && watching.openConnections() <= 8);
            assertThat(newClientThreads(before)).as("threads bounded by the connections, not the watches")
                    .hasSizeLessThanOrEqualTo(2 + 8 + 16 + 2);

            // A dedicated service: its own blocking query.
            ServiceInstance first = TestInstances.of(services.get(0), "first");
            registrar.register(first);
            Watching.awaitIds(watchers.get(0), BOUND, Set.of("first"));
            // A shared one: its checks changed, it alone is read again.
            ServiceInstance late = TestInstances.of(services.get(49), "late");
            registrar.register(late);
            Watching.awaitIds(watchers.get(49), BOUND, Set.of("late"));
            // A change that touches no check (metadata of a re-registered instance): the catalog moved.
            ServiceInstance changed = late.toBuilder().metadata("colour", "blue").build();
            registrar.register(changed);
            Watching.awaitList(watchers.get(49), BOUND, "the new metadata", l -> l.equals(List.of(changed)));
            // Passing to critical (TTL expired): its checks changed.
            ConsulRegistry victim = open(registry());
            ServiceInstance doomed = TestInstances.of(services.get(48), "doomed");
            victim.register(doomed);
            Watching.awaitIds(watchers.get(48), BOUND, Set.of("doomed"));
            victim.kill();
            Watching.awaitIds(watchers.get(48), ConsulFixture.TTL.plus(BOUND), Set.of());
            registrar.deregister(changed);
            Watching.awaitIds(watchers.get(49), BOUND, Set.of());
            assertThat(consul.reads("/v1/health/state/any")).as("the shared checks query").isNotEmpty();
            assertThat(consul.heldQueries()).isLessThanOrEqualTo(4);
        } finally {
            watchers.forEach(Watcher::close);
        }
    }

    /** Threads started since {@code before} that belong to neither the stand-in nor the JVM. */
    private static List<String> newClientThreads(Set<Thread> before) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(Thread::isAlive)
                .filter(t -> !before.contains(t))
                .filter(t -> !ConsulStandIn.isServerThread(t))
                .filter(t -> !t.getName().startsWith("awaitility") && !t.getName().startsWith("ForkJoinPool"))
                .map(Thread::getName)
                .sorted()
                .collect(Collectors.toList());
    }
}
