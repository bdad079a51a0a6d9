package io.roster.eureka;

import io.roster.spi.DaemonThreadFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A TCP proxy in front of a server, for outages a stopped server cannot show: {@link #blackHole()} makes it a link
 * that swallows everything and never answers (connections are accepted, requests read and dropped), as a
 * firewall dropping packets or a hung load balancer does; {@link #restore()} forwards again. It also records the
 * request lines (method and path) of the HTTP/1.1 requests it receives, forwarded or not, to show which calls a
 * client makes.
 */
final class BlackHoleProxy implements AutoCloseable {
    private static final Pattern REQUEST_LINE = Pattern.compile("(GET|POST|PUT|DELETE) (\\S+) HTTP/1\\.1\r\n");

    private final int target;
    private final ServerSocket server;
    private final ExecutorService threads = Executors.newCachedThreadPool(new DaemonThreadFactory("test-proxy"));
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final List<String> requests = new CopyOnWriteArrayList<>();
    private final AtomicInteger accepted = new AtomicInteger();
    private volatile boolean blackHole;

    BlackHoleProxy(int target) throws IOException {
        this.target = target;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        threads.execute(this::accept);
    }

    int port() {
        return server.getLocalPort();
    }

    /** From now on nothing gets through in either direction, on new and open connections; nothing is closed. */
    void blackHole() {
        blackHole = true;
    }

    /** Forwards again, on new connections. */
    void restore() {
        blackHole = false;
    }

    /** The connections accepted from clients so far. */
    int accepted() {
        return accepted.get();
    }

    /** The request lines seen so far, such as {@code GET /eureka/apps/delta}. */
    List<String> requests() {
        return new ArrayList<>(requests);
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                accepted.incrementAndGet();
                sockets.add(client);
                if (blackHole) {
                    threads.execute(() -> pump(client, null, true)); // read and drop: never answer
                    continue;
                }
                Socket upstream = new Socket(InetAddress.getLoopbackAddress(), target);
                sockets.add(upstream);
                threads.execute(() -> pump(client, upstream, true));
                threads.execute(() -> pump(upstream, client, false));
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void pump(Socket from, Socket to, boolean requestSide) {
        byte[] buffer = new byte[16 * 1024];
        StringBuilder pending = new StringBuilder();
        try (InputStream in = from.getInputStream()) {
            OutputStream out = to == null ? null : to.getOutputStream();
            int n;
            while ((n = in.read(buffer)) >= 0) {
                if (requestSide) {
                    record(pending, new String(buffer, 0, n, StandardCharsets.ISO_8859_1));
                }
                if (blackHole || out == null) {
                    continue; // swallowed
                }
                out.write(buffer, 0, n);
                out.flush();
            }
            if (!blackHole && to != null) {
                to.shutdownOutput();
            }
        } catch (IOException e) {
            // a side closed: the other stays as it is, as on a dead link
        }
    }

    private void record(StringBuilder pending, String chunk) {
        pending.append(chunk);
        Matcher m = REQUEST_LINE.matcher(pending);
        int end = 0;
        while (m.find()) {
            requests.add(m.group(1) + " " + m.group(2));
            end = m.end();
        }
        // Keep a tail, in case a request line is split between two reads.
        pending.delete(0, Math.max(end, pending.length() - 200));
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket socket : sockets) {
            socket.close();
        }
        threads.shutdownNow();
    }
}
