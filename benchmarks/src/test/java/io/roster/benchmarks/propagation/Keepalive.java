package io.roster.benchmarks.propagation;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What keeping many instances registered costs, through Roster and through the raw client in turn: what the server
 * holds for them (leases, sessions, watches), the requests it receives per second while nothing changes, and the
 * client's threads and heap (used heap after a full GC, against the same figure just before the client was
 * opened; the instances themselves are built before that, so only what the client keeps counts). The servers run
 * in other processes, so every thread and byte counted here is the client's.
 */
final class Keepalive {
    private Keepalive() {
    }

    /** The cost for one client. */
    static final class Result {
        final String backend;
        final String client;
        final int instances;
        final Map<String, Long> held = new LinkedHashMap<>();
        double requestsPerSecond = Double.NaN;
        String unit = "";
        int threads;
        long heapBytes;
        Duration registerAll = Duration.ZERO;
        Duration close = Duration.ZERO;
        String error;

        Result(String backend, String client, int instances) {
            this.backend = backend;
            this.client = client;
            this.instances = instances;
        }
    }

    /**
     * Measures Roster, then the raw client.
     *
     * @param backend a started backend
     * @param settings instances and counting window
     * @param progress where to report progress
     * @return the two results
     */
    static List<Result> run(Backend backend, Settings settings, PrintStream progress) {
        List<Result> results = new ArrayList<>();
        try {
            // Once through both clients with a few instances, not counted: a client library's first use in the
            // JVM fills static caches and loads classes, which is no cost of keeping instances alive.
            List<ServiceInstance> few = Instances.many(Instances.service("keepalive-warmup"), 10);
            registerAll(backend.rosterUri(), few).close();
            backend.rawKeepalive(Instances.many(Instances.service("keepalive-warmup"), 10)).close();
        } catch (Exception e) {
            progress.printf("%s, keepalive warm-up failed: %s%n", backend.label(), Main.describe(e));
        }
        for (String client : List.of("Roster", "raw")) {
            int count = settings.keepaliveInstances();
            Result r = new Result(backend.label(), client, count);
            results.add(r);
            progress.printf("%s, keepalive of %,d instances, %s%n", backend.label(), count, client);
            try {
                measure(backend, client.equals("Roster"), Instances.many(Instances.service("keepalive"), count),
                        settings.keepaliveWindow(), r);
            } catch (Exception e) {
                r.error = Main.describe(e);
                progress.printf("%s, keepalive, %s: FAILED: %s%n", backend.label(), client, r.error);
            }
        }
        return results;
    }

    private static void measure(Backend backend, boolean roster, List<ServiceInstance> instances, Duration window,
                                Result into) throws Exception {
        quiesce();
        long heapBefore = usedHeap();
        int threadsBefore = threads();
        Backend.Load before = backend.load();
        String service = instances.get(0).name();
        long start = System.nanoTime();
        AutoCloseable client = roster ? registerAll(backend.rosterUri(), instances)
                : backend.rawKeepalive(instances);
        into.registerAll = Duration.ofNanos(System.nanoTime() - start);
        try {
            quiesce();
            into.heapBytes = usedHeap() - heapBefore;
            into.threads = threads() - threadsBefore;
            Backend.Load from = backend.load();
            Thread.sleep(window.toMillis()); // the counting window: nothing to wait for but time
            Backend.Load to = backend.load();
            into.unit = to.unit();
            into.requestsPerSecond = (to.requests() - from.requests()) / (window.toNanos() / 1e9);
            into.held.putAll(backend.held(service));
            to.gauges().forEach((what, n) -> into.held.put(what, n - before.gauges().getOrDefault(what, 0L)));
        } finally {
            long closing = System.nanoTime();
            client.close();
            into.close = Duration.ofNanos(System.nanoTime() - closing);
        }
    }

    private static Registry registerAll(String uri, List<ServiceInstance> instances) {
        Registry registry = Registries.open(uri);
        try {
            for (ServiceInstance i : instances) {
                registry.register(i);
            }
        } catch (RuntimeException | Error e) {
            registry.close();
            throw e;
        }
        return registry;
    }

    /** Full collections until the used heap stops shrinking, so that the figures are live data. */
    private static void quiesce() throws InterruptedException {
        long last = Long.MAX_VALUE;
        for (int i = 0; i < 4; i++) {
            System.gc();
            Thread.sleep(50); // reference processing and cleaner threads run after the collection
            long used = usedHeap();
            if (used >= last) {
                return;
            }
            last = used;
        }
    }

    private static long usedHeap() {
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    private static int threads() {
        return ManagementFactory.getThreadMXBean().getThreadCount();
    }
}
