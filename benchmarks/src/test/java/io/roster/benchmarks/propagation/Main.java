package io.roster.benchmarks.propagation;

import io.roster.spi.Failures;

import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The propagation and scale benchmark of issue 18: Roster beside each backend's raw client on the same real
 * servers, in one run. A plain Java program rather than JMH, since every sample is a distributed round trip
 * through a server in another process. See {@link Settings#USAGE} and docs/benchmarks.md.
 *
 * <pre>
 * mvn -q -pl benchmarks -am package -DskipTests
 * java -cp "benchmarks/target/test-classes:$(cat benchmarks/target/propagation.classpath)" \
 *     io.roster.benchmarks.propagation.Main --trials 200 --warmup 50
 * </pre>
 */
public final class Main {
    private Main() {
    }

    /**
     * Runs the benchmark and exits: 0 when every row finished, 1 when one failed, 2 for a bad command line.
     *
     * @param args see {@link Settings#USAGE}
     */
    public static void main(String[] args) {
        // Clients and servers log at INFO a lot; the harness's own progress goes to stderr anyway.
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        System.exit(run(args, System.out, System.err));
    }

    /**
     * Runs the benchmark.
     *
     * @param args see {@link Settings#USAGE}
     * @param out receives the Markdown report
     * @param progress receives progress lines
     * @return 0 when every row finished, 1 when one failed, 2 for a bad command line
     */
    static int run(String[] args, PrintStream out, PrintStream progress) {
        Settings settings;
        try {
            if (List.of(args).contains("--help")) {
                out.println(Settings.USAGE);
                return 0;
            }
            settings = Settings.parse(args);
        } catch (IllegalArgumentException e) {
            progress.println(e.getMessage());
            progress.println();
            progress.println(Settings.USAGE);
            return 2;
        }
        Report.Run run = new Report.Run();
        run.settings = settings;
        run.date = Machine.now();
        run.command = "Main " + String.join(" ", args);
        run.machine = Machine.describe();
        run.java = Machine.java();
        run.loadAtStart = Machine.loadAverage();
        run.load1AtStart = Machine.load1();
        run.commit = Machine.commit().orElse(null);
        long start = System.nanoTime();

        List<Trials.Row> rows = new ArrayList<>();
        List<FirstList.Result> firstLists = new ArrayList<>();
        List<Keepalive.Result> keepalives = new ArrayList<>();
        ExecutorService starter = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "bench-server-start");
            t.setDaemon(true);
            return t;
        });
        try (Cleanup cleanup = new Cleanup()) {
            List<Backend> backends = backends(settings);
            Map<Backend, Future<?>> started = new HashMap<>();
            if (settings.quick()) {
                // A smoke test need not be quiet: start every server at once (the Eureka server takes seconds).
                for (Backend b : backends) {
                    started.put(b, starter.submit(() -> {
                        b.start(cleanup);
                        return null;
                    }));
                }
            }
            try {
                for (Backend backend : backends) {
                    runBackend(backend, started.get(backend), cleanup, settings, run, rows, firstLists, keepalives,
                            progress);
                }
            } finally {
                // A server still starting in the background would escape the cleanup below.
                started.values().forEach(Main::settle);
            }
        } finally {
            starter.shutdownNow();
        }
        run.took = Duration.ofNanos(System.nanoTime() - start);
        run.loadAtEnd = Machine.loadAverage();
        out.print(Report.markdown(run, rows, firstLists, keepalives));
        out.flush();
        boolean failed = !run.failures.isEmpty() || rows.stream().anyMatch(r -> r.error != null)
                || firstLists.stream().anyMatch(r -> r.error != null)
                || keepalives.stream().anyMatch(r -> r.error != null);
        return failed ? 1 : 0;
    }

    private static void runBackend(Backend backend, Future<?> starting, Cleanup cleanup, Settings settings,
                                   Report.Run run, List<Trials.Row> rows, List<FirstList.Result> firstLists,
                                   List<Keepalive.Result> keepalives, PrintStream progress) {
        try (backend) {
            progress.printf("%s: starting the server%n", backend.label());
            if (starting != null) {
                await(starting);
            } else {
                backend.start(cleanup);
            }
            run.servers.put(backend.label(), backend.server());
            run.raws.put(backend.label(), backend.raw());
            if (settings.sections().contains("propagation")) {
                String warmUp = Trials.warmUp(backend, settings, progress);
                if (warmUp != null) {
                    run.failures.add(backend.label() + ", warm-up: " + warmUp);
                }
                rows.addAll(Trials.run(backend, sizes(backend, settings), settings, progress));
            }
            if (settings.sections().contains("first-list") && backend.name().equals("zookeeper")) {
                firstLists.add(FirstList.run(backend, settings, progress));
            }
            if (settings.sections().contains("keepalive") && !backend.name().equals("etcd-cluster")) {
                run.keepaliveSettings.put(backend.label(), backend.keepaliveSettings());
                keepalives.addAll(Keepalive.run(backend, settings, progress));
            }
        } catch (Exception e) {
            run.failures.add(backend.label() + ": " + describe(e));
            progress.printf("%s: FAILED: %s%n", backend.label(), describe(e));
        }
    }

    private static void settle(Future<?> start) {
        try {
            start.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            // reported where the backend runs
        }
    }

    private static void await(Future<?> start) throws Exception {
        try {
            start.get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception ? (Exception) e.getCause() : e;
        }
    }

    private static List<Backend> backends(Settings settings) {
        List<Backend> out = new ArrayList<>();
        if (settings.runs("etcd")) {
            out.add(new EtcdBackend(1));
        }
        if (settings.runs("etcd-cluster")) {
            out.add(new EtcdBackend(3));
        }
        if (settings.runs("zookeeper")) {
            out.add(new ZooKeeperBackend());
        }
        if (settings.runs("eureka")) {
            out.add(new EurekaBackend(settings.eurekaRefresh()));
        }
        return out;
    }

    private static List<Integer> sizes(Backend backend, Settings settings) {
        switch (backend.name()) {
            case "etcd-cluster":
                return settings.clusterSizes();
            case "eureka":
                return settings.eurekaSizes();
            default:
                return settings.sizes();
        }
    }

    /** An exception in one line, the innermost cause's text, without secrets. */
    static String describe(Throwable t) {
        return Failures.describe(t);
    }
}
