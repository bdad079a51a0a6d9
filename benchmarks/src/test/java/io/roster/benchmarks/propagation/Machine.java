package io.roster.benchmarks.propagation;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** The machine a run measures on, for the report's header: figures from elsewhere are not comparable. */
final class Machine {
    private Machine() {
    }

    static String now() {
        return ZonedDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'"));
    }

    static int cpus() {
        return Runtime.getRuntime().availableProcessors();
    }

    /** The CPU model, the kernel and the memory, as far as Linux tells. */
    static String describe() {
        String model = read("/proc/cpuinfo").lines().filter(l -> l.startsWith("model name"))
                .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("unknown CPU");
        String memory = read("/proc/meminfo").lines().filter(l -> l.startsWith("MemTotal:"))
                .map(l -> l.replaceAll("\\D+", "")).findFirst()
                .map(kb -> Math.round(Long.parseLong(kb) / 1024.0 / 1024.0) + " GiB").orElse("? GiB");
        return cpus() + " CPUs (" + model + "), " + memory + ", Linux " + read("/proc/sys/kernel/osrelease").trim()
                + " (uname -r)";
    }

    static String java() {
        return System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version") + " ("
                + System.getProperty("java.vendor") + "), default flags";
    }

    /** The 1, 5 and 15 minute load averages. */
    static String loadAverage() {
        String[] f = read("/proc/loadavg").trim().split("\\s+");
        return f.length >= 3 ? f[0] + " / " + f[1] + " / " + f[2] : "unknown";
    }

    /** The 1 minute load average, or -1. */
    static double load1() {
        try {
            return Double.parseDouble(read("/proc/loadavg").trim().split("\\s+")[0]);
        } catch (RuntimeException e) {
            return -1;
        }
    }

    /** The commit the run was built from, with {@code +changes} when the work tree differs. */
    static Optional<String> commit() {
        String head = run("git", "rev-parse", "--short", "HEAD");
        if (head.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(head + (run("git", "status", "--porcelain", "--untracked-files=no").isEmpty() ? ""
                : " +changes"));
    }

    private static String run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(false).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                return "";
            }
            return out;
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    private static String read(String file) {
        try {
            return Files.readString(Path.of(file));
        } catch (IOException e) {
            return "";
        }
    }
}
