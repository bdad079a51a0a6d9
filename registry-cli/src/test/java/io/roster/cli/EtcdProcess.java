package io.roster.cli;

import io.roster.testkit.FreePorts;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;

/**
 * A real single-member etcd (the {@code etcd} binary of Debian's {@code etcd-server}) on free loopback ports with a
 * data dir in memory, as registry-etcd's {@code EtcdServer} runs it; killed by {@link #close()} or at JVM exit.
 */
final class EtcdProcess implements AutoCloseable {
    private final int clientPort = FreePorts.next();
    private final Path dataDir;
    private final Process process;

    EtcdProcess() throws IOException {
        Path shm = Path.of("/dev/shm");
        dataDir = Files.isDirectory(shm) && Files.isWritable(shm) ? Files.createTempDirectory(shm, "roster-cli-etcd-")
                : Files.createTempDirectory("roster-cli-etcd-");
        int peerPort = FreePorts.next();
        String client = "http://127.0.0.1:" + clientPort;
        String peer = "http://127.0.0.1:" + peerPort;
        try {
            process = new ProcessBuilder("etcd", "--name", "cli", "--data-dir", dataDir.toString(),
                    "--listen-client-urls", client, "--advertise-client-urls", client,
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", "cli=" + peer, "--log-outputs", "stderr")
                    .redirectErrorStream(true)
                    .redirectOutput(dataDir.resolveSibling(dataDir.getFileName() + ".log").toFile())
                    .start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot run etcd (install Debian's etcd-server package): " + e, e);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(process::destroyForcibly, "etcd-cli-fixture-reaper"));
        HttpClient http = HttpClient.newHttpClient();
        HttpRequest health = HttpRequest.newBuilder(URI.create(client + "/health")).timeout(Duration.ofSeconds(2))
                .build();
        try {
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100))
                    .ignoreExceptionsInstanceOf(IOException.class).until(() -> {
                        if (!process.isAlive()) {
                            throw new IllegalStateException("etcd exited with " + process.exitValue());
                        }
                        return http.send(health, HttpResponse.BodyHandlers.ofString()).body()
                                .contains("\"health\":\"true\"");
                    });
        } catch (RuntimeException e) {
            process.destroyForcibly();
            throw e;
        }
    }

    /** Such as {@code 127.0.0.1:40123}. */
    String endpoint() {
        return "127.0.0.1:" + clientPort;
    }

    @Override
    public void close() throws Exception {
        process.destroyForcibly().waitFor();
        try (Stream<Path> files = Files.walk(dataDir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (UncheckedIOException e) {
            // a temp dir left behind is harmless
        }
        Files.deleteIfExists(dataDir.resolveSibling(dataDir.getFileName() + ".log"));
    }
}
