package io.roster.testkit;


import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;

/**
 * A real etcd member (the {@code etcd} binary of Debian's {@code etcd-server} package) on free loopback ports with
 * a temporary data dir, for tests. {@link #start} runs a single-member cluster; {@link #cluster} several members
 * of one cluster. Health and metrics are read over plain HTTP on a separate metrics port, so they work the same
 * with TLS and auth.
 *
 * <p>Shared by the tests of every module that needs a real etcd (the etcd backend, the CLI, the gRPC integration,
 * the benchmarks). Every process started here dies at the latest when the JVM exits (shutdown hook), also when it was stopped
 * with {@link #pause()}.
 */
public final class EtcdServer implements AutoCloseable {
    private static final Set<EtcdServer> RUNNING = ConcurrentHashMap.newKeySet();
    private static final Duration STARTUP = Duration.ofSeconds(60);

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> RUNNING.forEach(EtcdServer::destroy),
                "etcd-fixture-reaper"));
    }

    private final String name;
    private final Path dataDir;
    private final Path log;
    private final int clientPort = FreePorts.next();
    private final int peerPort = FreePorts.next();
    private final int metricsPort = FreePorts.next();
    private final boolean tls;
    private final List<String> extraArgs;
    private String initialCluster;
    private String clusterToken;
    private Process process;
    private boolean paused;

    private EtcdServer(String name, Path base, boolean tls, List<String> extraArgs) {
        this.name = name;
        this.dataDir = base.resolve(name + ".etcd");
        this.log = base.resolve(name + ".log");
        this.tls = tls;
        this.extraArgs = extraArgs;
    }

    /**
     * Starts a single-member cluster and waits until it is healthy.
     *
     * @param tls whether clients connect with TLS (the TLS flags are then in {@code extraArgs})
     * @param extraArgs more etcd flags
     * @return the running member
     */
    public static EtcdServer start(boolean tls, String... extraArgs) {
        List<EtcdServer> one = cluster(1, tls, extraArgs);
        return one.get(0);
    }

    /**
     * Starts a single plain-text member.
     *
     * @return the running member
     */
    public static EtcdServer start() {
        return start(false);
    }

    /**
     * Starts the members of one cluster and waits until every one is healthy.
     *
     * @param size the number of members
     * @param tls whether clients connect with TLS
     * @param extraArgs more etcd flags for every member
     * @return the members
     */
    public static List<EtcdServer> cluster(int size, boolean tls, String... extraArgs) {
        Path base = baseDir();
        String token = "roster-" + UUID.randomUUID();
        List<EtcdServer> members = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            members.add(new EtcdServer("m" + i, base, tls, List.of(extraArgs)));
        }
        String initial = members.stream().map(m -> m.name + "=http://127.0.0.1:" + m.peerPort)
                .collect(Collectors.joining(","));
        try {
            for (EtcdServer m : members) {
                m.initialCluster = initial;
                m.clusterToken = token;
                m.launch();
            }
            members.forEach(EtcdServer::awaitHealthy);
        } catch (RuntimeException e) {
            members.forEach(EtcdServer::close);
            throw e;
        }
        return members;
    }

    private static Path baseDir() {
        try {
            // etcd syncs every write to disk; in memory, thousands of registrations take seconds, not minutes.
            Path shm = Path.of("/dev/shm");
            return Files.isDirectory(shm) && Files.isWritable(shm)
                    ? Files.createTempDirectory(shm, "roster-etcd-") : Files.createTempDirectory("roster-etcd-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private synchronized void launch() {
        String scheme = tls ? "https" : "http";
        List<String> command = new ArrayList<>(List.of("etcd",
                "--name", name,
                "--data-dir", dataDir.toString(),
                "--listen-client-urls", scheme + "://127.0.0.1:" + clientPort,
                "--advertise-client-urls", scheme + "://127.0.0.1:" + clientPort,
                "--listen-peer-urls", "http://127.0.0.1:" + peerPort,
                "--initial-advertise-peer-urls", "http://127.0.0.1:" + peerPort,
                "--initial-cluster", initialCluster,
                "--initial-cluster-token", clusterToken,
                "--initial-cluster-state", "new",
                "--listen-metrics-urls", "http://127.0.0.1:" + metricsPort,
                "--logger", "zap",
                "--log-outputs", "stderr"));
        command.addAll(extraArgs);
        try {
            process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot run etcd (install Debian's etcd-server package): " + e, e);
        }
        paused = false;
        RUNNING.add(this);
    }

    private void awaitHealthy() {
        try {
            await().atMost(STARTUP).pollInterval(Duration.ofMillis(100)).until(() -> {
                if (!process.isAlive()) {
                    throw new IllegalStateException("etcd " + name + " exited with " + process.exitValue()
                            + "; log:\n" + logTail());
                }
                return httpGet("/health").contains("\"health\":\"true\"");
            });
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new IllegalStateException("etcd " + name + " not healthy within " + STARTUP + "; log:\n"
                    + logTail(), e);
        }
    }

    /** Host and port for clients, such as {@code 127.0.0.1:40123}. */
    public String endpoint() {
        return "127.0.0.1:" + clientPort;
    }

    public int clientPort() {
        return clientPort;
    }

    /**
     * Returns the registry URI of this member, for {@code Registries.open}.
     *
     * @param pathAndQuery such as {@code /microservices?ttl=2s}
     * @return such as {@code etcd://127.0.0.1:23791/microservices?ttl=2s}
     */
    public String uri(String pathAndQuery) {
        return "etcd://" + endpoint() + pathAndQuery;
    }

    /** The URL a plain jetcd client uses. */
    public String url() {
        return (tls ? "https" : "http") + "://" + endpoint();
    }

    public String name() {
        return name;
    }

    /** Kills the member at once (SIGKILL), as a crash would; its data dir stays for {@link #restart()}. */
    public synchronized void kill() {
        destroy();
    }

    /** Starts the member again on the same ports and data dir, and waits until it is healthy. */
    public void restart() {
        launch();
        awaitHealthy();
    }

    /** Brings the member back after a test that may have failed while it was paused or killed. */
    public void ensureRunning() {
        synchronized (this) {
            if (paused) {
                resume();
            }
        }
        if (!process.isAlive()) {
            restart();
        }
    }

    /** Freezes the member (SIGSTOP): its sockets stay open but it answers nothing. */
    public synchronized void pause() {
        signal("STOP");
        paused = true;
        // kill returns once the signal is queued; the process's threads stop a moment later. Wait until every
        // task is stopped, or a request sent right after pause() may still be answered.
        awaitTaskStates(true);
    }

    /** Thaws a {@link #pause() paused} member (SIGCONT). */
    public synchronized void resume() {
        signal("CONT");
        paused = false;
        awaitTaskStates(false);
    }

    /** Waits until every thread of the process is (or no thread is) in state T, as /proc tells. */
    private void awaitTaskStates(boolean stopped) {
        Path tasks = Path.of("/proc", Long.toString(process.pid()), "task");
        if (!Files.isDirectory(tasks)) {
            return; // no /proc (not Linux): nothing to wait for
        }
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(5)).until(() -> {
            try (Stream<Path> list = Files.list(tasks)) {
                return list.allMatch(task -> isStopped(task) == stopped);
            }
        });
    }

    private static boolean isStopped(Path task) {
        try {
            String stat = Files.readString(task.resolve("stat"));
            // The state is the field after the parenthesised command name, which may itself contain spaces.
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state == 'T' || state == 't';
        } catch (IOException e) {
            return true; // the thread has ended meanwhile: it runs no request
        }
    }

    private void signal(String signal) {
        try {
            Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).start();
            if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
                throw new IllegalStateException("kill -" + signal + " " + process.pid() + " failed");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * Reads a Prometheus counter of this member: the sum of every sample whose line starts with the text.
     *
     * @param sample such as {@code grpc_server_handled_total{grpc_code="OK",grpc_method="Range"}
     * @return the sum, 0 when absent
     */
    public long metric(String sample) {
        return httpGet("/metrics").lines()
                .filter(line -> line.startsWith(sample))
                .mapToLong(line -> (long) Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
                .sum();
    }

    /**
     * Lists the leases that exist, through etcd's own lease API ({@code LeaseLeases}, which jetcd does not expose;
     * here through etcd's JSON gateway on the client port of a plain-text member).
     *
     * @return the lease IDs
     */
    public Set<Long> leases() {
        String response = http(clientPort, "POST /v3/lease/leases HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                + "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
        if (!response.startsWith("HTTP/1.0 200") && !response.startsWith("HTTP/1.1 200")) {
            throw new IllegalStateException("listing leases failed: " + response);
        }
        Set<Long> ids = new java.util.TreeSet<>();
        Matcher m = Pattern.compile("\"ID\":\"(\\d+)\"").matcher(response);
        while (m.find()) {
            ids.add(Long.parseLong(m.group(1)));
        }
        return ids;
    }

    private String httpGet(String path) {
        return http(metricsPort, "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    }

    /** One HTTP/1.0 exchange on a socket: an HTTP client would leave threads behind. */
    private static String http(int port, String request) {
        try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    private String logTail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    private synchronized void destroy() {
        if (process == null) {
            return;
        }
        if (paused) {
            signal("CONT"); // SIGKILL works on a stopped process too; this is belt and braces
            paused = false;
        }
        process.destroyForcibly();
        try {
            process.waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        RUNNING.remove(this);
    }

    /** Kills the member and deletes its data dir. */
    @Override
    public void close() {
        destroy();
        Path base = dataDir.getParent();
        try (Stream<Path> files = Files.walk(dataDir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // already gone
        }
        try {
            Files.deleteIfExists(log);
            Files.deleteIfExists(base); // the last member of a cluster removes the shared directory
        } catch (IOException e) {
            // other members' files still there
        }
    }
}
