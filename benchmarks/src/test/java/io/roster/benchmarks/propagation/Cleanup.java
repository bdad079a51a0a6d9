package io.roster.benchmarks.propagation;

import java.util.Deque;
import java.util.concurrent.ConcurrentLinkedDeque;

/**
 * The server processes of one run, killed when the run ends however it ends: by {@link #close()}, or by the
 * JVM's shutdown (Ctrl-C, SIGTERM, an uncaught error) through a shutdown hook. Clients are not tracked: they die
 * with the JVM; servers are other processes, and etcd's data lives in {@code /dev/shm}.
 */
final class Cleanup implements AutoCloseable {
    private final Deque<AutoCloseable> servers = new ConcurrentLinkedDeque<>();
    private final Thread hook = new Thread(this::closeAll, "bench-cleanup");

    Cleanup() {
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /**
     * Tracks a server until it is {@link #closed closed}.
     *
     * @param server the server
     * @param <T> its type
     * @return the server
     */
    <T extends AutoCloseable> T add(T server) {
        servers.push(server);
        return server;
    }

    /**
     * Closes a tracked server now.
     *
     * @param server the server
     */
    void closed(AutoCloseable server) {
        if (servers.remove(server)) {
            closeQuietly(server);
        }
    }

    private void closeAll() {
        AutoCloseable server;
        while ((server = servers.poll()) != null) {
            closeQuietly(server);
        }
    }

    private static void closeQuietly(AutoCloseable server) {
        try {
            server.close();
        } catch (Throwable t) {
            System.err.println("cleanup: closing " + server + " failed: " + t);
        }
    }

    @Override
    public void close() {
        closeAll();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // the JVM is shutting down: the hook runs or has run
        }
    }
}
