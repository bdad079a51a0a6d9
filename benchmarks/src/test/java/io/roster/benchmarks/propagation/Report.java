package io.roster.benchmarks.propagation;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The run's results as Markdown, ready to paste into {@code docs/benchmarks.md}: the machine, then one table per
 * section, each ratio marked against issue 18's goals, and the goals in one list at the end.
 */
final class Report {
    /** Goal 1: a change seen through Roster within 1.2× of the raw client's own watch (etcd, ZooKeeper). */
    static final double WATCH = 1.2;
    /** Goal 1: Roster's p50 at 10 000 instances within 1.3× of its p50 at 10. */
    static final double SCALE = 1.3;
    /** Goal 1: a ZooKeeper watch's first list within 1.2× of CuratorCache's initial load. */
    static final double FIRST_LIST = 1.2;
    /** Goal 2: Eureka register → seen within 1.1× of a raw poller at the same period. */
    static final double EUREKA = 1.1;

    private final StringBuilder out = new StringBuilder();
    private final List<String[]> goals = new ArrayList<>();

    /**
     * Writes the report.
     *
     * @param run what was run and on what
     * @param rows the propagation rows
     * @param firstLists the first-list results
     * @param keepalives the keepalive results
     * @return Markdown
     */
    static String markdown(Run run, List<Trials.Row> rows, List<FirstList.Result> firstLists,
                           List<Keepalive.Result> keepalives) {
        Report r = new Report();
        r.header(run);
        if (!rows.isEmpty()) {
            r.propagation(rows);
            r.scale(rows);
        }
        if (!firstLists.isEmpty()) {
            r.firstList(firstLists);
        }
        if (!keepalives.isEmpty()) {
            r.keepalive(keepalives, run.keepaliveSettings);
        }
        r.goals();
        return r.out.toString();
    }

    /** What was run, where and when. */
    static final class Run {
        String date;
        String command;
        String machine;
        String java;
        String loadAtStart;
        String loadAtEnd;
        double load1AtStart;
        String commit;
        Settings settings;
        Duration took;
        final Map<String, String> servers = new LinkedHashMap<>();
        final Map<String, String> raws = new LinkedHashMap<>();
        final Map<String, String> keepaliveSettings = new LinkedHashMap<>();
        final List<String> failures = new ArrayList<>();
    }

    private void line(String s) {
        out.append(s).append('\n');
    }

    private void header(Run run) {
        line("### Run of " + run.date);
        line("");
        if (run.load1AtStart > Machine.cpus() * 0.5) {
            line("> **Loaded machine** (load average " + run.loadAtStart + " on " + Machine.cpus() + " CPUs at the "
                    + "start): these figures are indications only. Re-run on a quiet machine before quoting them.");
            line("");
        }
        line("- Command: `" + run.command + "`" + (run.commit == null ? "" : " at commit " + run.commit)
                + ", " + minutes(run.took));
        line("- Machine: " + run.machine);
        line("- Load average (1 / 5 / 15 min): " + run.loadAtStart + " at the start, " + run.loadAtEnd
                + " at the end");
        line("- Java: " + run.java);
        Settings s = run.settings;
        line("- Trials: " + s.trials() + " measured after " + s.warmup() + " warm-up per row and client, Roster and "
                + "the raw client alternately (Roster first in even trials), on one server per backend, after one "
                + "unmeasured row of " + Math.max(1, s.warmup()) + " trials per backend (JIT warm-up); each row a "
                + "service preloaded with its number of instances, a backend's rows taking their trials in turn; "
                + "latency from just before the write call to the writer's own watcher having the change, "
                + "p50 / p90 / p99 in milliseconds");
        run.servers.forEach((backend, server) -> line("- " + backend + ": " + server + "; raw client: "
                + run.raws.get(backend)));
        for (String f : run.failures) {
            line("- **Failed:** " + f);
        }
        line("");
    }

    private static String minutes(Duration d) {
        if (d == null) {
            return "";
        }
        long s = d.toSeconds();
        return s < 120 ? s + " s" : String.format(Locale.ROOT, "%.1f min", s / 60.0);
    }

    private void propagation(List<Trials.Row> rows) {
        line("#### Register → watcher and deregister → watcher");
        line("");
        line("| backend | instances | change | Roster p50 / p90 / p99 | raw p50 / p90 / p99 | Roster / raw (p50) "
                + "| goal | write call returns, Roster / raw (p50) |");
        line("|---|---:|---|---:|---:|---:|---|---:|");
        for (Trials.Row row : rows) {
            if (row.error != null) {
                line("| " + row.backend + " | " + count(row.size) + " | — | failed: " + cell(row.error)
                        + " | | | | |");
                continue;
            }
            change(row, "register", row.rosterRegister, row.rawRegister);
            change(row, "deregister", row.rosterDeregister, row.rawDeregister);
        }
        line("");
    }

    private void change(Trials.Row row, String change, Trials.Measured roster, Trials.Measured raw) {
        double ratio = roster.seen.p50() / raw.seen.p50();
        double target = target(row.backend, change);
        String goal = "—";
        if (!Double.isNaN(target)) {
            goal = verdict(ratio, target);
            goals.add(new String[] {goalName(row.backend), row.backend + ", " + count(row.size) + " instances, "
                    + change + " → watcher, Roster / raw p50", ratio(ratio), "≤ " + target + "×", goal});
        }
        line("| " + row.backend + " | " + count(row.size) + " | " + change + " | " + roster.seen.summary() + " | "
                + raw.seen.summary() + " | " + ratio(ratio) + " | " + goal + " | " + Samples.ms(roster.ack.p50())
                + " / " + Samples.ms(raw.ack.p50()) + " |");
    }

    /** The goal a row is held to, or NaN. */
    private static double target(String backend, String change) {
        if (backend.startsWith("etcd") || backend.equals("ZooKeeper")) {
            return WATCH;
        }
        if (backend.equals("Eureka") && change.equals("register")) {
            return EUREKA;
        }
        return Double.NaN;
    }

    private static String goalName(String backend) {
        return backend.equals("Eureka") ? "2" : "1";
    }

    private void scale(List<Trials.Row> rows) {
        Map<String, List<Trials.Row>> byBackend = rows.stream().filter(r -> r.error == null)
                .collect(Collectors.groupingBy(r -> r.backend, LinkedHashMap::new, Collectors.toList()));
        byBackend.values().removeIf(l -> l.size() < 2);
        if (byBackend.isEmpty()) {
            return;
        }
        TreeSet<Integer> sizes = new TreeSet<>();
        byBackend.values().forEach(l -> l.forEach(r -> sizes.add(r.size)));
        line("#### Scale: p50 by service size");
        line("");
        StringBuilder head = new StringBuilder("| backend | change | client |");
        StringBuilder rule = new StringBuilder("|---|---|---|");
        for (int size : sizes) {
            head.append(' ').append(count(size)).append(" |");
            rule.append("---:|");
        }
        line(head + " largest / smallest | goal |");
        line(rule + "---:|---|");
        byBackend.forEach((backend, list) -> {
            scaleRow(backend, "register", "Roster", list, sizes, r -> r.rosterRegister.seen);
            scaleRow(backend, "register", "raw", list, sizes, r -> r.rawRegister.seen);
            scaleRow(backend, "deregister", "Roster", list, sizes, r -> r.rosterDeregister.seen);
            scaleRow(backend, "deregister", "raw", list, sizes, r -> r.rawDeregister.seen);
        });
        line("");
    }

    private void scaleRow(String backend, String change, String client, List<Trials.Row> list, TreeSet<Integer> sizes,
                          Function<Trials.Row, Samples> samples) {
        StringBuilder row = new StringBuilder("| " + backend + " | " + change + " | " + client + " |");
        Map<Integer, Double> p50 = new LinkedHashMap<>();
        list.forEach(r -> p50.put(r.size, samples.apply(r).p50()));
        for (int size : sizes) {
            row.append(' ').append(p50.containsKey(size) ? Samples.ms(p50.get(size)) : "—").append(" |");
        }
        int smallest = list.stream().mapToInt(r -> r.size).min().orElseThrow();
        int largest = list.stream().mapToInt(r -> r.size).max().orElseThrow();
        double ratio = p50.get(largest) / p50.get(smallest);
        String goal = "—";
        boolean held = client.equals("Roster") && (backend.startsWith("etcd") || backend.equals("ZooKeeper"));
        if (held && smallest == 10 && largest == 10_000) {
            goal = verdict(ratio, SCALE);
            goals.add(new String[] {"1", backend + ", " + change + " → watcher, Roster p50 at 10 000 / at 10",
                    ratio(ratio), "≤ " + SCALE + "×", goal});
        } else if (held) {
            goal = "(the goal compares 10 000 with 10)";
        }
        line(row + " " + ratio(ratio) + " (" + count(largest) + " / " + count(smallest) + ") | " + goal + " |");
    }

    private void firstList(List<FirstList.Result> results) {
        line("#### A watch's first list");
        line("");
        line("| backend | instances | Roster: `watch()` → first `next()`, p50 / p90 / p99 | raw: CuratorCache "
                + "`start()` → initialized, p50 / p90 / p99 | Roster / raw (p50) | goal |");
        line("|---|---:|---:|---:|---:|---|");
        for (FirstList.Result r : results) {
            if (r.error != null) {
                line("| " + r.backend + " | " + count(r.size) + " | failed: " + cell(r.error) + " | | | |");
                continue;
            }
            double ratio = r.roster.p50() / r.raw.p50();
            String goal = verdict(ratio, FIRST_LIST);
            if (r.size != 10_000) {
                goal += " (the goal is at 10 000)";
            }
            goals.add(new String[] {"1", r.backend + ", first list of " + count(r.size)
                    + " instances, Roster / CuratorCache p50", ratio(ratio), "≤ " + FIRST_LIST + "×", goal});
            line("| " + r.backend + " | " + count(r.size) + " | " + r.roster.summary() + " | " + r.raw.summary()
                    + " | " + ratio(ratio) + " | " + goal + " |");
        }
        line("");
        line("Trials: " + results.get(0).roster.count() + " per client after warm-up, alternately; each Roster "
                + "trial opens a new watch on a registry that watches nothing else.");
        line("");
    }

    private void keepalive(List<Keepalive.Result> results, Map<String, String> settings) {
        line("#### Keepalive cost");
        line("");
        line("| backend | client | instances | server holds | requests to the server, per second | client threads "
                + "| client heap after GC | register all | close |");
        line("|---|---|---:|---|---:|---:|---:|---:|---:|");
        for (Keepalive.Result r : results) {
            if (r.error != null) {
                line("| " + r.backend + " | " + r.client + " | " + count(r.instances) + " | failed: " + cell(r.error)
                        + " | | | | | |");
                continue;
            }
            String held = r.held.entrySet().stream().map(e -> e.getKey() + ": " + e.getValue())
                    .collect(Collectors.joining(", "));
            line("| " + r.backend + " | " + r.client + " | " + count(r.instances) + " | " + held + " | "
                    + String.format(Locale.ROOT, "%.2f", r.requestsPerSecond) + " " + r.unit + " | " + r.threads
                    + " | " + mib(r.heapBytes) + " | " + seconds(r.registerAll) + " | " + seconds(r.close) + " |");
        }
        line("");
        settings.forEach((backend, s) -> line("- " + backend + ": " + s + "."));
        line("- Server holds: the leases or sessions the instances' records hang on (etcd: their keys' leases; "
                + "ZooKeeper: their nodes' ephemeral owners, and the server's watch count minus its count before; "
                + "Eureka: each instance is a lease). Requests: counted by the server over the window while nothing "
                + "changes. Threads and heap: the harness JVM's "
                + "live threads and used heap after a full GC, minus the same just before the client was opened "
                + "(the servers run in other processes).");
        line("");
    }

    private void goals() {
        if (goals.isEmpty()) {
            return;
        }
        line("#### Issue 18 goals in this run");
        line("");
        line("| goal | what | measured | target | verdict |");
        line("|---|---|---:|---:|---|");
        for (String[] g : goals) {
            line("| " + String.join(" | ", g) + " |");
        }
        line("");
    }

    static String verdict(double ratio, double target) {
        if (Double.isNaN(ratio) || Double.isInfinite(ratio)) {
            return "—";
        }
        if (ratio <= target) {
            return "met";
        }
        return String.format(Locale.ROOT, "missed by %.0f %%", (ratio / target - 1) * 100);
    }

    private static String ratio(double r) {
        return Double.isNaN(r) || Double.isInfinite(r) ? "—" : String.format(Locale.ROOT, "%.2f×", r);
    }

    private static String count(int n) {
        return String.format(Locale.ROOT, "%,d", n).replace(",", " ");
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1024.0 / 1024.0);
    }

    private static String seconds(Duration d) {
        return String.format(Locale.ROOT, "%.2f s", d.toNanos() / 1e9);
    }

    /** Text that fits in one table cell. */
    private static String cell(String text) {
        return text.replace('|', '/').replace('\n', ' ');
    }
}
