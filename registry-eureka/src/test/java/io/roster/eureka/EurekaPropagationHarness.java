package io.roster.eureka;

import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Http;
import io.roster.testkit.FreePorts;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Eureka's part of the propagation benchmark (issue 18, goal 2), a harness and not a test: how long after a
 * registration is acknowledged a watcher sees it (and a removal), through Roster beside a raw poller that reads
 * {@code GET apps/<APP>} at the same fixed rate with the same HTTP client ({@link Http}) and looks for the instance
 * id in the bytes, both following one in-JVM Eureka server (the tests' Spring Cloud server) with an application of
 * 1 000 instances.
 * Both run at once, each trial registering at a random moment of the polling period; p50/p90/p99 are printed.
 *
 * <p>Two phases: right after the 1 000 instances were registered (each delta then repeats them all, until the
 * server's 3 min delta window has passed) and once the window has passed ({@code settle}). Run it on a quiet
 * machine:
 *
 * <pre>
 * mvn -o -q -pl registry-eureka -am test -Dsurefire.failIfNoSpecifiedTests=false -Dtest=EurekaPropagationHarness \
 *     -Droster.harness=true [-Droster.harness.instances=1000 -Droster.harness.period=50 (ms) \
 *     -Droster.harness.warmup=30 -Droster.harness.trials=200 -Droster.harness.settle=190 (s)]
 * </pre>
 */
@EnabledIfSystemProperty(named = "roster.harness", matches = "true")
class EurekaPropagationHarness {
    private static final int INSTANCES = Integer.getInteger("roster.harness.instances", 1000);
    private static final Duration PERIOD = Duration.ofMillis(Integer.getInteger("roster.harness.period", 50));
    private static final int WARMUP = Integer.getInteger("roster.harness.warmup", 30);
    private static final int TRIALS = Integer.getInteger("roster.harness.trials", 200);
    private static final Duration SETTLE = Duration.ofSeconds(Integer.getInteger("roster.harness.settle", 190));
    private static final String SERVICE = "bench";
    private static final String APP = EurekaInstances.app(SERVICE);

    /** When each side first saw an instance id appear, and disappear. */
    private final Map<String, Long> rosterSeen = new ConcurrentHashMap<>();
    private final Map<String, Long> rosterGone = new ConcurrentHashMap<>();
    private final Map<String, Long> rawSeen = new ConcurrentHashMap<>();
    private final Map<String, Long> rawGone = new ConcurrentHashMap<>();
    private final Map<String, Boolean> rawPresent = new ConcurrentHashMap<>();

    @Test
    void registerToSeen() throws Exception {
        ExecutorService executor = Executors.newCachedThreadPool(new DaemonThreadFactory("harness"));
        ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(
                new DaemonThreadFactory("harness-raw-poller"));
        try (EurekaTestServer server = EurekaTestServer.start(FreePorts.next());
             RawEureka raw = new RawEureka(server.url())) {
            long start = System.nanoTime();
            for (int i = 0; i < INSTANCES - 1; i++) {
                EurekaInstances.Record r = record("bg-" + i, 30000 + i);
                raw.register(r.app(), r.json());
            }
            System.out.printf("%d instances registered in %d ms%n", INSTANCES - 1,
                    (System.nanoTime() - start) / 1_000_000);

            Http http = Http.builder(server.url()).maxConnections(2).header("Accept", "application/json")
                    .threadName("harness-raw-http").build();
            Http.Request read = Http.Request.get("apps/" + APP);
            List<String> watched = Collections.synchronizedList(new ArrayList<>());
            poller.scheduleAtFixedRate(() -> rawPoll(http, read, watched), 0, PERIOD.toNanos(), TimeUnit.NANOSECONDS);

            try (EurekaRegistry registry = EurekaRegistry.builder().serverUrl(server.url()).refreshInterval(PERIOD)
                    .build();
                 Watcher watcher = registry.watch(SERVICE)) {
                executor.execute(() -> follow(watcher));
                requestCost(http, raw);
                phase("within the delta window", 40000, raw, watched);
                System.out.printf("settling %d s, until the server's delta window no longer holds the %d "
                        + "registrations%n", SETTLE.toSeconds(), INSTANCES - 1);
                Thread.sleep(SETTLE.toMillis()); // a harness waiting out a server-side window, not a test
                requestCost(http, raw);
                phase("after the delta window", 50000, raw, watched);
            } finally {
                poller.shutdownNow();
                http.close();
            }
        } finally {
            poller.shutdownNow();
            executor.shutdownNow();
        }
    }

    private void phase(String name, int ports, RawEureka raw, List<String> watched) throws InterruptedException {
        List<Long> rosterUp = new ArrayList<>();
        List<Long> rawUp = new ArrayList<>();
        List<Long> rosterDown = new ArrayList<>();
        List<Long> rawDown = new ArrayList<>();
        for (int t = 0; t < WARMUP + TRIALS; t++) {
            String id = "t-" + (ports + t);
            EurekaInstances.Record r = record(id, ports + t);
            watched.add(r.instanceId());
            Thread.sleep(ThreadLocalRandom.current().nextLong(PERIOD.toMillis() + 1)); // a random polling phase
            long registered = register(raw, r);
            long seenBy = awaitBoth(rosterSeen, id, rawSeen, r.instanceId());
            long deregistered = deregister(raw, r);
            long goneBy = awaitBoth(rosterGone, id, rawGone, r.instanceId());
            if (t >= WARMUP && seenBy > 0 && goneBy > 0) {
                rosterUp.add(rosterSeen.get(id) - registered);
                rawUp.add(rawSeen.get(r.instanceId()) - registered);
                rosterDown.add(rosterGone.get(id) - deregistered);
                rawDown.add(rawGone.get(r.instanceId()) - deregistered);
            }
            watched.remove(r.instanceId());
        }
        double load = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        System.out.printf("%n%s, %s, %d cores, load %.1f: %d instances, period %d ms, %d trials (%d warm-up)%n",
                name, LocalDateTime.now().withNano(0), Runtime.getRuntime().availableProcessors(), load, INSTANCES,
                PERIOD.toMillis(), rosterUp.size(), WARMUP);
        System.out.printf("%-24s %9s %9s %9s%n", "ms", "p50", "p90", "p99");
        row("register → seen, Roster", rosterUp);
        row("register → seen, raw", rawUp);
        row("deregister → gone, Roster", rosterDown);
        row("deregister → gone, raw", rawDown);
        System.out.printf("ratio Roster/raw p50: register %.2f, deregister %.2f%n",
                percentile(rosterUp, 50) / percentile(rawUp, 50), percentile(rosterDown, 50) / percentile(rawDown, 50));
    }

    /**
     * What one poll's request costs each side, server and transfer included: {@code GET apps/delta} (Roster) and
     * {@code GET apps/<APP>} (raw), each right after a registration, so that the server's cached answer is stale.
     */
    private static void requestCost(Http http, RawEureka raw) throws Exception {
        for (String path : List.of("apps/delta", "apps/" + APP)) {
            Http.Request request = Http.Request.get(path);
            List<Long> nanos = new ArrayList<>();
            long bytes = 0;
            for (int i = 0; i < 40; i++) {
                EurekaInstances.Record r = record("cost-" + i, 60000 + i);
                raw.register(r.app(), r.json());
                long start = System.nanoTime();
                bytes = http.send(request).body().length;
                nanos.add(System.nanoTime() - start);
                raw.delete(r.app(), r.instanceId());
            }
            System.out.printf("GET %-16s %8d bytes, p50 %.1f ms, p90 %.1f ms%n", path, bytes,
                    percentile(nanos.subList(10, nanos.size()), 50), percentile(nanos.subList(10, nanos.size()), 90));
        }
    }

    private static long register(RawEureka raw, EurekaInstances.Record r) {
        raw.register(r.app(), r.json());
        return System.nanoTime(); // acknowledged
    }

    private static long deregister(RawEureka raw, EurekaInstances.Record r) {
        raw.delete(r.app(), r.instanceId());
        return System.nanoTime();
    }

    private static long awaitBoth(Map<String, Long> roster, String id, Map<String, Long> raw, String instanceId)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!(roster.containsKey(id) && raw.containsKey(instanceId))) {
            if (System.nanoTime() > deadline) {
                System.out.printf("trial %s: not seen within 30 s (roster %s, raw %s)%n", id, roster.containsKey(id),
                        raw.containsKey(instanceId));
                return -1;
            }
            Thread.sleep(1); // the harness polls its own bookkeeping; the measured sides record their own times
        }
        return System.nanoTime();
    }

    /** The Roster side: every list the watcher returns, stamped on arrival. */
    private void follow(Watcher watcher) {
        java.util.Set<String> last = java.util.Set.of();
        try {
            while (true) {
                Optional<List<ServiceInstance>> list = watcher.next(Duration.ofSeconds(60));
                if (list.isEmpty()) {
                    continue;
                }
                long now = System.nanoTime();
                java.util.Set<String> ids = new java.util.HashSet<>();
                list.get().forEach(i -> ids.add(i.id()));
                for (String id : ids) {
                    if (!last.contains(id)) {
                        rosterSeen.putIfAbsent(id, now);
                    }
                }
                for (String id : last) {
                    if (!ids.contains(id)) {
                        rosterGone.putIfAbsent(id, now);
                    }
                }
                last = ids;
            }
        } catch (RuntimeException | InterruptedException e) {
            // the watcher closed
        }
    }

    /** The raw side: one GET of the application, the watched ids looked up in the bytes. */
    private void rawPoll(Http http, Http.Request read, List<String> watched) {
        try {
            byte[] body = http.send(read).body();
            long now = System.nanoTime();
            String text = new String(body, StandardCharsets.UTF_8);
            for (String instanceId : watched.toArray(new String[0])) {
                boolean present = text.contains("\"" + instanceId + "\"");
                Boolean before = rawPresent.put(instanceId, present);
                if (present && !Boolean.TRUE.equals(before)) {
                    rawSeen.putIfAbsent(instanceId, now);
                } else if (!present && Boolean.TRUE.equals(before)) {
                    rawGone.putIfAbsent(instanceId, now);
                }
            }
        } catch (Exception e) {
            // a failed poll: the next one tries again
        }
    }

    private static EurekaInstances.Record record(String id, int port) {
        // A long lease: nothing renews these, and the run takes minutes.
        return EurekaInstances.records(ServiceInstance.builder().name(SERVICE).id(id)
                .endpoint("grpc://10.9." + (port / 250 % 250) + "." + (port % 250) + ":" + port).build(), 1800, 3600)
                .get(0);
    }

    private static void row(String name, List<Long> nanos) {
        System.out.printf("%-24s %9.1f %9.1f %9.1f%n", name, percentile(nanos, 50), percentile(nanos, 90),
                percentile(nanos, 99));
    }

    private static double percentile(List<Long> nanos, int p) {
        if (nanos.isEmpty()) {
            return Double.NaN;
        }
        List<Long> sorted = new ArrayList<>(nanos);
        Collections.sort(sorted);
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p / 100.0 * sorted.size()) - 1)) / 1e6;
    }
}
