package io.roster.benchmarks.propagation;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;

import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.TimeoutException;

/**
 * A watch's first list on a large service beside the raw client's own initial load (ZooKeeper: CuratorCache from
 * {@code start()} to its {@code initialized} event). Each Roster trial opens a new watch on a registry that watches
 * nothing else, so the list is read from the server, not handed over by a watch already open; alternately with
 * the raw client, after warm-up.
 */
final class FirstList {
    private FirstList() {
    }

    /** The raw client's initial load of the service, from nothing to every instance read. */
    interface Probe extends AutoCloseable {
        /**
         * Loads the service from scratch, as a new cache or watch of the raw client does.
         *
         * @return the number of instances loaded
         * @throws Exception when the server fails
         */
        int load() throws Exception;

        /** Closes what {@link #load()} opened, so that the next load starts from scratch. */
        void forget();

        /** Closes the client. */
        @Override
        void close();
    }

    /** The results for one backend. */
    static final class Result {
        final String backend;
        final int size;
        final Samples roster = new Samples();
        final Samples raw = new Samples();
        String error;

        Result(String backend, int size) {
            this.backend = backend;
            this.size = size;
        }
    }

    /**
     * Runs the comparison.
     *
     * @param backend a started backend that has a {@link Backend#firstListProbe probe}
     * @param settings size, trials, warm-up
     * @param progress where to report progress
     * @return the results, with {@code error} set when it could not finish
     */
    @SuppressWarnings("try") // preloaded: only its close() matters
    static Result run(Backend backend, Settings settings, PrintStream progress) {
        int size = settings.firstListSize();
        Result result = new Result(backend.label(), size);
        String service = Instances.service("first-" + size);
        progress.printf("%s, first list of %,d instances: preloading%n", backend.label(), size);
        try (AutoCloseable preloaded = backend.preload(Instances.many(service, size));
             Probe probe = backend.firstListProbe(service);
             Registry reader = Registries.open(backend.rosterUri())) {
            int total = settings.firstListWarmup() + settings.firstListTrials();
            for (int i = 0; i < total; i++) {
                boolean measured = i >= settings.firstListWarmup();
                if (i % 2 == 0) {
                    roster(reader, service, size, measured ? result.roster : null, settings);
                    raw(probe, size, measured ? result.raw : null);
                } else {
                    raw(probe, size, measured ? result.raw : null);
                    roster(reader, service, size, measured ? result.roster : null, settings);
                }
                progress.printf("%s, first list of %,d instances: %d of %d trials%n", backend.label(), size, i + 1,
                        total);
            }
        } catch (Exception e) {
            result.error = Main.describe(e);
            progress.printf("%s, first list: FAILED: %s%n", backend.label(), result.error);
        }
        return result;
    }

    private static void roster(Registry reader, String service, int size, Samples into, Settings settings)
            throws Exception {
        long start = System.nanoTime();
        try (Watcher watcher = reader.watch(service)) {
            List<ServiceInstance> first = watcher.next(settings.timeout())
                    .orElseThrow(() -> new TimeoutException("no first list within " + settings.timeout()));
            long took = System.nanoTime() - start;
            if (first.size() != size) {
                throw new IllegalStateException("Roster's first list has " + first.size() + " instances, not "
                        + size);
            }
            if (into != null) {
                into.add(took);
            }
        }
    }

    private static void raw(Probe probe, int size, Samples into) throws Exception {
        long start = System.nanoTime();
        int loaded;
        long took;
        try {
            loaded = probe.load();
            took = System.nanoTime() - start;
        } finally {
            probe.forget(); // not timed: Roster's clock stops before its watcher closes, too
        }
        if (loaded != size) {
            throw new IllegalStateException("the raw client loaded " + loaded + " instances, not " + size);
        }
        if (into != null) {
            into.add(took);
        }
    }
}
