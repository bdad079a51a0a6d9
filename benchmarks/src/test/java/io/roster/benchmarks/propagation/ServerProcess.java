package io.roster.benchmarks.propagation;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A server fixture ({@link ServerMain}: ZooKeeper's {@code TestingServer}, the Eureka test server) in a JVM of its
 * own, so that the harness's thread and heap figures are the clients' alone and the server's garbage collection
 * does not pause the clients. It speaks through its standard streams: it prints {@code @@bench ready} once
 * serving, answers {@code stats}, stops on {@code stop} and exits as soon as its standard input closes, so it
 * never outlives the harness, even one killed with SIGKILL.
 */
final class ServerProcess implements AutoCloseable {
    static final String PREFIX = "@@bench ";
    private static final Duration STARTUP = Duration.ofSeconds(120);

    private final String kind;
    private final Process process;
    private final Writer commands;
    private final BlockingQueue<String> answers = new LinkedBlockingQueue<>();
    private final Path log;

    private ServerProcess(String kind, Process process, Path log) {
        this.kind = kind;
        this.process = process;
        this.log = log;
        this.commands = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        Thread reader = new Thread(this::readAnswers, "bench-" + kind + "-stdout");
        reader.setDaemon(true);
        reader.start();
    }

    /**
     * Starts a server and waits until it serves.
     *
     * @param kind {@code zookeeper} or {@code eureka}
     * @param port a free port
     * @return the running server
     * @throws IOException when the JVM cannot start or the server fails to come up
     */
    static ServerProcess start(String kind, int port) throws IOException, InterruptedException {
        Path log = Files.createTempFile("roster-bench-" + kind + "-", ".log");
        List<String> command = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-Dzookeeper.4lw.commands.whitelist=mntr,srvr,ruok",
                "-Dzookeeper.admin.enableServer=false",
                "-cp", System.getProperty("java.class.path"),
                ServerMain.class.getName(), kind, Integer.toString(port)));
        Process process = new ProcessBuilder(command)
                .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .start();
        ServerProcess server = new ServerProcess(kind, process, log);
        try {
            server.answer(STARTUP, "start");
        } catch (IOException | InterruptedException | RuntimeException e) {
            server.close();
            throw e;
        }
        return server;
    }

    private void readAnswers() {
        try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                if (line.startsWith(PREFIX)) {
                    answers.add(line.substring(PREFIX.length()));
                }
            }
        } catch (IOException e) {
            // the process ended
        }
    }

    /**
     * Sends a command and returns its one-line answer.
     *
     * @param command such as {@code stats}
     * @return the answer
     * @throws IOException when the server does not answer
     */
    synchronized String request(String command) throws IOException, InterruptedException {
        commands.write(command + "\n");
        commands.flush();
        return answer(Duration.ofSeconds(30), command);
    }

    private String answer(Duration timeout, String what) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            String a = answers.poll(200, TimeUnit.MILLISECONDS);
            if (a != null) {
                return a;
            }
            if (!process.isAlive()) {
                throw new IOException(kind + " server exited with " + process.exitValue() + " during '" + what
                        + "'; log " + log + ":\n" + logTail());
            }
        }
        throw new IOException(kind + " server did not answer '" + what + "' within " + timeout.toSeconds()
                + " s; log " + log + ":\n" + logTail());
    }

    private String logTail() {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }

    /** Stops the server: asks it to, then kills it if it has not ended within 20 s. */
    @Override
    public void close() {
        try {
            commands.write("stop\n");
            commands.close();
        } catch (IOException e) {
            // already gone
        }
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try {
            Files.deleteIfExists(log);
        } catch (IOException e) {
            // left in the temporary directory
        }
    }

    @Override
    public String toString() {
        return kind + " server (pid " + process.pid() + ")";
    }
}
