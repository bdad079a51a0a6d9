package io.roster.benchmarks.propagation;

import io.roster.ServiceInstance;

import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;

/**
 * Register → watcher and deregister → watcher on one backend, for every service size at once. Each size is a
 * service of its own, preloaded with that many instances, which Roster's side and the raw client's side both watch.
 * A trial registers one more instance and then deregisters it, through one side and then the other (Roster first
 * in even trials, raw first in odd ones); the sizes take their trials in turn, the first size changing from one
 * round to the next, so that a drift of the machine's load or of the JVM's state over the run touches every size
 * alike and cannot pass for a cost of the service's size.
 *
 * <p>A latency runs from just before the write call to the moment the writing side's own watcher has the change;
 * before the next write, the other side's watcher must have it too, so that no change is still in flight. On a
 * polling backend each write waits a random part of the polling period first, so that writes fall at random points
 * of the poll cycle instead of right after a poll.
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
     * @param sizes the numbers of instances of the services, one row each
     * @param settings trials, warm-up and timeout
     * @param progress where to report progress
     * @return the rows, each with {@code error} set when it could not finish
     */
    static List<Row> run(Backend backend, List<Integer> sizes, Settings settings, PrintStream progress) {
        return run(backend, sizes, settings.warmup(), settings.trials(), settings.timeout(), backend.label(),
                progress);
    }

    /**
     * Runs one row's worth of trials on a small service and forgets the results, before a backend's rows: they
     * would otherwise also pay for the JIT compilation of the clients (and of the server, when it runs on a JVM).
     *
     * @param backend a started backend
     * @param settings warm-up and timeout
     * @param progress where to report progress
     * @return an error, or null
     */
    static String warmUp(Backend backend, Settings settings, PrintStream progress) {
        return run(backend, List.of(10), 0, Math.max(1, settings.warmup()), settings.timeout(),
                backend.label() + ", warming up", progress).get(0).error;
    }

    private static List<Row> run(Backend backend, List<Integer> sizes, int warmup, int trials, Duration timeout,
                                 String what, PrintStream progress) {
        List<Lane> lanes = new ArrayList<>();
        try {
            for (int size : sizes) {
                Lane lane = new Lane(new Row(backend.label(), backend.raw(), size));
                lanes.add(lane);
                progress.printf("%s, %,d instances: preloading%n", what, size);
                try {
                    lane.open(backend);
                } catch (Exception e) {
                    lane.fail(e, progress);
                }
            }
            int total = warmup + trials;
            long reported = System.nanoTime();
            for (int i = 0; i < total; i++) {
                for (int k = 0; k < lanes.size(); k++) {
                    Lane lane = lanes.get((i + k) % lanes.size());
                    if (lane.row.error != null) {
                        continue;
                    }
                    try {
                        lane.round(i % 2 == 0, i >= warmup, backend.pollPeriod(), timeout);
                    } catch (Exception e) {
                        lane.fail(e, progress);
                    }
                }
                if (System.nanoTime() - reported > 10_000_000_000L || i == total - 1) {
                    progress.printf("%s: %d of %d trials%n", what, i + 1, total);
                    reported = System.nanoTime();
                }
            }
        } finally {
            lanes.forEach(Lane::close);
        }
        return lanes.stream().map(l -> l.row).toList();
    }

    /** One size: its service, preloaded, and both sides watching it. */
    private static final class Lane {
        final Row row;
        private String service;
        private AutoCloseable preloaded;
        private Side roster;
        private Side raw;

        Lane(Row row) {
            this.row = row;
        }

        void open(Backend backend) throws Exception {
            service = Instances.service("bench-" + row.size);
            preloaded = backend.preload(Instances.many(service, row.size));
            roster = new RosterSide(backend.rosterUri(), service);
            raw = backend.rawSide(service);
            roster.observer().size(row.size).await(Duration.ofMinutes(5));
            raw.observer().size(row.size).await(Duration.ofMinutes(5));
        }

        /** One trial on each side, in the given order. */
        void round(boolean rosterFirst, boolean measured, Duration period, Duration timeout) throws Exception {
            if (rosterFirst) {
                trial(roster, raw, row.rosterRegister, row.rosterDeregister, measured, period, timeout);
                trial(raw, roster, row.rawRegister, row.rawDeregister, measured, period, timeout);
            } else {
                trial(raw, roster, row.rawRegister, row.rawDeregister, measured, period, timeout);
                trial(roster, raw, row.rosterRegister, row.rosterDeregister, measured, period, timeout);
            }
        }

        private void trial(Side side, Side other, Measured register, Measured deregister, boolean measured,
                           Duration period, Duration timeout) throws Exception {
            ServiceInstance instance = Instances.next(service);
            step(side, other, instance, true, register, measured, period, timeout);
            step(side, other, instance, false, deregister, measured, period, timeout);
        }

        void fail(Exception e, PrintStream progress) {
            row.error = Main.describe(e);
            progress.printf("%s, %,d instances: FAILED: %s%n", row.backend, row.size, row.error);
            close();
        }

        void close() {
            if (raw != null) {
                raw.close();
                raw = null;
            }
            if (roster != null) {
                roster.close();
                roster = null;
            }
            if (preloaded != null) {
                try {
                    preloaded.close();
                } catch (Exception e) {
                    System.err.println("removing the preloaded instances of " + service + " failed: " + e);
                }
                preloaded = null;
            }
        }
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
