package io.roster.etcd;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP proxy in front of a plain-text etcd member that reads the HTTP/2 frames passing through (gRPC over h2c, as
 * the etcd client speaks it) and counts what the tests ask about: connections, the client's keepalive pings, and
 * the server's GOAWAY frames. Frames are forwarded unchanged.
 */
final class Http2Proxy implements AutoCloseable {
    /** The payload grpc-java puts in its keepalive pings ({@code NettyClientHandler.USER_PING_PAYLOAD}). */
    private static final long KEEPALIVE_PING = 1111;
    private static final int PREFACE = 24; // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    private static final int PING = 0x6;
    private static final int GOAWAY = 0x7;

    private final int targetPort;
    private final ServerSocket server;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final List<Thread> threads = new CopyOnWriteArrayList<>();
    private final AtomicInteger connections = new AtomicInteger();
    private final AtomicInteger keepalivePings = new AtomicInteger();
    private final AtomicInteger goaways = new AtomicInteger();

    Http2Proxy(int targetPort) throws IOException {
        this.targetPort = targetPort;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        start("h2-proxy-accept", this::accept);
    }

    /** Host and port for clients. */
    String endpoint() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    int connections() {
        return connections.get();
    }

    int keepalivePings() {
        return keepalivePings.get();
    }

    int goaways() {
        return goaways.get();
    }

    private void accept() {
        try {
            while (true) {
                Socket client = server.accept();
                Socket upstream = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                sockets.add(client);
                sockets.add(upstream);
                connections.incrementAndGet();
                start("h2-proxy-up", () -> pump(client, upstream, true));
                start("h2-proxy-down", () -> pump(upstream, client, false));
            }
        } catch (IOException e) {
            // closed
        }
    }

    private void pump(Socket from, Socket to, boolean fromClient) {
        try {
            DataInputStream in = new DataInputStream(from.getInputStream());
            OutputStream out = to.getOutputStream();
            if (fromClient) {
                byte[] preface = new byte[PREFACE];
                in.readFully(preface);
                out.write(preface);
            }
            byte[] header = new byte[9];
            while (true) {
                in.readFully(header);
                int length = (header[0] & 0xff) << 16 | (header[1] & 0xff) << 8 | (header[2] & 0xff);
                int type = header[3] & 0xff;
                int flags = header[4] & 0xff;
                byte[] payload = new byte[length];
                in.readFully(payload);
                if (fromClient && type == PING && (flags & 0x1) == 0 && length == 8
                        && ByteBuffer.wrap(payload).getLong() == KEEPALIVE_PING) {
                    keepalivePings.incrementAndGet();
                }
                if (!fromClient && type == GOAWAY) {
                    goaways.incrementAndGet();
                }
                out.write(header);
                out.write(payload);
                out.flush();
            }
        } catch (IOException e) {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    private void start(String name, Runnable task) {
        Thread thread = new Thread(task, name);
        thread.setDaemon(true);
        threads.add(thread);
        thread.start();
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // closing anyway
        }
    }

    @Override
    public void close() throws InterruptedException {
        try {
            server.close();
        } catch (IOException e) {
            // closing anyway
        }
        sockets.forEach(Http2Proxy::closeQuietly);
        for (Thread thread : threads) {
            thread.join(10_000);
        }
    }
}
