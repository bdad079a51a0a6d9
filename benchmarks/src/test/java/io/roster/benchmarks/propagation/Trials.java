package io.roster.benchmarks.propagation;

import io.roster.ServiceInstance;

import java.io.PrintStream;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;

/**
 * Register → watcher and deregister → watcher on one backend for one service size: the service is preloaded with
 * {@code size} instances, Roster's side and the raw client's side both watch it, and each trial registers one
 * more instance and then deregisters it, through one side and then the other (Roster first in even trials, raw
 * first in odd ones). A latency runs from just before the write call to the moment the writing side's own watcher
 * has the change; before the next write, the other side's watcher must have it too, so that no change is still
 * in flight. On a polling backend each write waits a random part of the polling period first, so that writes fall
 * at random points of the poll cycle instead of right after a poll.
 */
final class Trials {
    private Trials() {
    }

    /** One change measured on one side: when the watcher saw it, and when the write call returned. */
    static final class Measured {
        final Samples seen = new Samples();
        final Samples ack = new Samples();
    }

    /** The results for one backend and size. */
    static final class Row {
        final String backend;
        final String raw;
        final int size;
        final Measured rosterRegister = new Measured();
        final Measured rawRegister = new Measured();
        final Measured rosterDeregister = new Measured();
        final Measured rawDeregister = new Measured();
        String error;

        Row(String backend, String raw, int size) {
            this.backend = backend;
            this.raw = raw;
            this.size = size;
        }
    }

    /**
     * Runs the trials.
     *
     * @param backend a started backend
     * @param size the number of instances the service holds during the trials
     * @param settings trials, warm-up and timeout
     * @param progress where to report progress
     * @return the results, with {@code error} set when the row could not finish
     */
    static Row run(Backend backend, int size, Settings settings, PrintStream progress) {
        return run(backend, size, settings.warmup(), settings.trials(), settings.timeout(),
                String.format("%s, %,d instances", backend.label(), size), progress);
    }

    /**
     * Runs one row's worth of trials on a small service and forgets the results, before a backend's first row:
     * the first row would otherwise also pay for the JIT compilation of the clients (and of the server, when it
     * runs on a JVM), which would make the smallest service look slower than the larger ones that follow it.
     *
     * @param backend a started backend
     * @param settings warm-up and timeout
     * @param progress where to report progress
     * @return an error, or null
     */
    static String warmUp(Backend backend, Settings settings, PrintStream progress) {
        return run(backend, 10, 0, Math.max(1, settings.warmup()), settings.timeout(),
                backend.label() + ", warming up", progress).error;
    }

    @SuppressWarnings("try") // preloaded: only its close() matters
    private static Row run(Backend backend, int size, int warmup, int trials, Duration timeout, String what,
                           PrintStream progress) {
        Row row = new Row(backend.label(), backend.raw(), size);
        String service = Instances.service("bench-" + size);
        progress.printf("%s: preloading%n", what);
        try (AutoCloseable preloaded = backend.preload(Instances.many(service, size));
             Side roster = new RosterSide(backend.rosterUri(), service);
             Side raw = backend.rawSide(service)) {
            roster.observer().size(size).await(Duration.ofMinutes(5));
            raw.observer().size(size).await(Duration.ofMinutes(5));
            int total = warmup + trials;
            long started = System.nanoTime();
            for (int i = 0; i < total; i++) {
                boolean measured = i >= warmup;
                Duration period = backend.pollPeriod();
                if (i % 2 == 0) {
                    trial(service, roster, raw, row.rosterRegister, row.rosterDeregister, measured, period, timeout);
                    trial(service, raw, roster, row.rawRegister, row.rawDeregister, measured, period, timeout);
                } else {
                    trial(service, raw, roster, row.rawRegister, row.rawDeregister, measured, period, timeout);
                    trial(service, roster, raw, row.rosterRegister, row.rosterDeregister, measured, period, timeout);
                }
                if (System.nanoTime() - started > 10_000_000_000L || i == total - 1) {
                    progress.printf("%s: %d of %d trials%n", what, i + 1, total);
                    started = System.nanoTime();
                }
            }
        } catch (Exception e) {
            row.error = Main.describe(e);
            progress.printf("%s: FAILED: %s%n", what, row.error);
        }
        return row;
    }

    private static void trial(String service, Side side, Side other, Measured register, Measured deregister,
                              boolean measured, Duration period, Duration timeout) throws Exception {
        ServiceInstance instance = Instances.next(service);
        step(side, other, instance, true, register, measured, period, timeout);
        step(side, other, instance, false, deregister, measured, period, timeout);
    }

    private static void step(Side side, Side other, ServiceInstance instance, boolean add, Measured into,
                             boolean measured, Duration period, Duration timeout) throws Exception {
        if (!period.isZero()) {
            LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(period.toNanos()));
        }
        String id = instance.id();
        Observer.Sighting mine = add ? side.observer().present(id) : side.observer().absent(id);
        Observer.Sighting theirs = add ? other.observer().present(id) : other.observer().absent(id);
        long start = System.nanoTime();
        if (add) {
            side.register(instance);
        } else {
            side.deregister(instance);
        }
        long acknowledged = System.nanoTime();
        long seen = mine.await(timeout);
        theirs.await(timeout);
        if (measured) {
            into.seen.add(seen - start);
            into.ack.add(acknowledged - start);
        }
    }
}
