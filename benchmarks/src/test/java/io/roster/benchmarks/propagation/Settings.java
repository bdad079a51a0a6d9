package io.roster.benchmarks.propagation;

import io.roster.spi.Durations;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The harness's command line. Every option has a full-run default; {@code --quick} swaps in smoke-test defaults,
 * and options given explicitly win over both, in any order.
 */
record Settings(int trials, int warmup, Set<String> backends, Set<String> sections, List<Integer> sizes,
                List<Integer> clusterSizes, List<Integer> eurekaSizes, Duration eurekaRefresh, int firstListSize,
                int firstListTrials, int firstListWarmup, int keepaliveInstances, Duration keepaliveWindow,
                Duration timeout, boolean quick) {

    static final List<String> BACKENDS = List.of("etcd", "etcd-cluster", "zookeeper", "eureka");
    static final List<String> SECTIONS = List.of("propagation", "first-list", "keepalive");

    static final String USAGE = String.join("\n",
            "Usage: java -cp <classpath> io.roster.benchmarks.propagation.Main [options]",
            "",
            "Measures register -> watcher and deregister -> watcher latency through Roster beside each backend's raw",
            "client on the same real server (alternating trials after warm-up), the 10 / 1 000 / 10 000 scale",
            "series, a ZooKeeper watch's first list beside CuratorCache's initial load, and the keepalive cost of",
            "many registered instances. Prints Markdown tables on stdout, progress on stderr.",
            "",
            "  --trials N               measured trials per row and client (default 200; quick 10)",
            "  --warmup N               warm-up trials per row and client, not measured (default 50; quick 3)",
            "  --only LIST              backends: etcd, etcd-cluster, zookeeper, eureka (default: all)",
            "  --sections LIST          propagation, first-list, keepalive (default: all)",
            "  --sizes LIST             service sizes for etcd and zookeeper (default 10,1000,10000; quick 10,1000)",
            "  --cluster-sizes LIST     service sizes for the 3-member etcd cluster (default 10)",
            "  --eureka-sizes LIST      service sizes for eureka (default 10,1000; quick 10)",
            "  --eureka-refresh D       Roster's refresh and the raw poller's period (default 50ms)",
            "  --first-list-size N      instances for the first-list comparison (default 10000; quick 1000)",
            "  --first-list-trials N    first-list trials per client (default 10; quick 2)",
            "  --first-list-warmup N    first-list warm-up trials per client (default 2; quick 1)",
            "  --keepalive-instances N  instances registered for the keepalive cost (default 1000; quick 100)",
            "  --keepalive-window D     how long server requests are counted (default 30s; quick 2s)",
            "  --timeout D              longest wait for one change to be seen (default 30s)",
            "  --quick                  smoke-test defaults: the whole run in under a minute",
            "  --help                   this text",
            "",
            "Durations: 500ms, 2s, 1m.");

    /**
     * Parses the command line.
     *
     * @param args the arguments
     * @return the settings
     * @throws IllegalArgumentException naming the bad option
     */
    static Settings parse(String... args) {
        Map<String, String> given = new HashMap<>();
        boolean quick = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--quick")) {
                quick = true;
                continue;
            }
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument '" + a + "'");
            }
            String name = a.substring(2);
            String value;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw new IllegalArgumentException("option --" + name + " needs a value");
            }
            given.put(name, value);
        }
        Options o = new Options(given, quick);
        Settings s = new Settings(
                o.positive("trials", 200, 10),
                o.count("warmup", 50, 3),
                o.names("only", BACKENDS),
                o.names("sections", SECTIONS),
                o.sizes("sizes", "10,1000,10000", "10,1000"),
                o.sizes("cluster-sizes", "10", "10"),
                o.sizes("eureka-sizes", "10,1000", "10"),
                o.duration("eureka-refresh", "50ms", "50ms"),
                o.positive("first-list-size", 10_000, 1_000),
                o.positive("first-list-trials", 10, 2),
                o.count("first-list-warmup", 2, 1),
                o.positive("keepalive-instances", 1_000, 100),
                o.duration("keepalive-window", "30s", "2s"),
                o.duration("timeout", "30s", "30s"),
                quick);
        given.keySet().removeAll(o.read);
        if (!given.isEmpty()) {
            throw new IllegalArgumentException("unknown option --" + given.keySet().iterator().next()
                    + " (see --help)");
        }
        return s;
    }

    boolean runs(String backend) {
        return backends.contains(backend);
    }

    /** The option values given, with the quick or full defaults for the others. */
    private static final class Options {
        private final Map<String, String> given;
        private final boolean quick;
        private final Set<String> read = new LinkedHashSet<>();

        Options(Map<String, String> given, boolean quick) {
            this.given = given;
            this.quick = quick;
        }

        private String text(String name, String full, String quickDefault) {
            read.add(name);
            return given.getOrDefault(name, quick ? quickDefault : full);
        }

        int count(String name, int full, int quickDefault) {
            String t = text(name, Integer.toString(full), Integer.toString(quickDefault));
            try {
                int n = Integer.parseInt(t.trim());
                if (n >= 0) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // below
            }
            throw new IllegalArgumentException("--" + name + " must be a whole number ≥ 0, was '" + t + "'");
        }

        int positive(String name, int full, int quickDefault) {
            int n = count(name, full, quickDefault);
            if (n == 0) {
                throw new IllegalArgumentException("--" + name + " must be at least 1");
            }
            return n;
        }

        List<Integer> sizes(String name, String full, String quickDefault) {
            String t = text(name, full, quickDefault);
            List<Integer> out = new ArrayList<>();
            for (String part : t.split(",")) {
                try {
                    int n = Integer.parseInt(part.trim().replace("_", ""));
                    if (n >= 1) {
                        out.add(n);
                        continue;
                    }
                } catch (NumberFormatException e) {
                    // below
                }
                throw new IllegalArgumentException("--" + name + " takes sizes ≥ 1 such as 10,1000, was '" + t + "'");
            }
            return List.copyOf(out);
        }

        Set<String> names(String name, List<String> known) {
            read.add(name);
            String t = given.get(name);
            if (t == null) {
                return new LinkedHashSet<>(known);
            }
            Set<String> wanted = Arrays.stream(t.split(",")).map(s -> s.trim().toLowerCase(Locale.ROOT))
                    .filter(s -> !s.isEmpty()).collect(Collectors.toCollection(LinkedHashSet::new));
            for (String w : wanted) {
                if (!known.contains(w)) {
                    throw new IllegalArgumentException("--" + name + ": unknown '" + w + "', expected some of "
                            + known);
                }
            }
            // Run in the harness's order, whatever the order given.
            return known.stream().filter(wanted::contains).collect(Collectors.toCollection(LinkedHashSet::new));
        }

        Duration duration(String name, String full, String quickDefault) {
            String t = text(name, full, quickDefault);
            try {
                Duration d = Durations.parse(t);
                if (!d.isZero() && !d.isNegative()) {
                    return d;
                }
            } catch (IllegalArgumentException e) {
                // below
            }
            throw new IllegalArgumentException("--" + name + " must be a positive duration such as 500ms or 2s, "
                    + "was '" + t + "'");
        }
    }
}
