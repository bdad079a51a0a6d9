package io.roster.benchmarks.propagation;

import com.netflix.eureka.util.EurekaMonitors;
import io.roster.eureka.EurekaTestServer;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingServer;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The main class of a {@link ServerProcess}: runs one server fixture until told to stop or until its standard
 * input closes (the harness ended, however it ended).
 */
public final class ServerMain {
    private ServerMain() {
    }

    /**
     * Runs a server.
     *
     * @param args {@code zookeeper <port>} or {@code eureka <port>}
     * @throws Exception when the server cannot start
     */
    public static void main(String[] args) throws Exception {
        String kind = args[0];
        int port = Integer.parseInt(args[1]);
        AutoCloseable server = switch (kind) {
            case "zookeeper" -> zookeeper(port);
            case "eureka" -> EurekaTestServer.start(port);
            default -> throw new IllegalArgumentException("unknown server " + kind);
        };
        Thread stopper = new Thread(() -> closeQuietly(server), "bench-server-stop");
        Runtime.getRuntime().addShutdownHook(stopper);
        answer("ready");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null && !line.equals("stop")) {
            if (line.equals("stats")) {
                answer(kind.equals("eureka") ? eurekaStats() : "");
            }
        }
        // Stopped, or the harness is gone: the shutdown hook closes the server.
        System.exit(0);
    }

    /**
     * A standalone ZooKeeper with its data in memory when {@code /dev/shm} exists (as the etcd fixture keeps
     * etcd's), so that neither server waits for a disk. ZooKeeper's embedded server writes its configuration file
     * next to the data directory, so both live in a directory of their own, removed when the server stops.
     */
    private static AutoCloseable zookeeper(int port) throws Exception {
        Path shm = Path.of("/dev/shm");
        Path base = Files.isDirectory(shm) && Files.isWritable(shm)
                ? Files.createTempDirectory(shm, "roster-bench-zk-") : Files.createTempDirectory("roster-bench-zk-");
        File data = base.resolve("data").toFile();
        TestingServer server = new TestingServer(new InstanceSpec(data, port, -1, -1, true, 1, -1, -1, Map.of(),
                "127.0.0.1"), true);
        return () -> {
            try {
                server.close();
            } finally {
                try (Stream<Path> files = Files.walk(base)) {
                    files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        };
    }

    /** Eureka's own request counters ({@code EurekaMonitors}): RENEW, REGISTER, CANCEL, GET_APPLICATION, ... */
    private static String eurekaStats() {
        return Arrays.stream(EurekaMonitors.values()).map(m -> m.name() + "=" + m.getCount())
                .collect(Collectors.joining(" "));
    }

    private static void answer(String text) {
        System.out.println(ServerProcess.PREFIX + text);
        System.out.flush();
    }

    private static void closeQuietly(AutoCloseable server) {
        try {
            server.close();
        } catch (Exception | Error e) {
            System.err.println("closing the server failed: " + e);
        }
    }
}
