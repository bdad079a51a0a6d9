package io.roster.nacos;

import io.roster.spi.DaemonThreadFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A TCP proxy in front of a {@link NacosStandIn}'s two ports (main and gRPC = main + 1000) that can turn into a
 * black hole: connections stay open and new ones are accepted, but no byte passes any more, as with a dropped
 * route, a firewall that discards packets or a frozen host (no RST, no FIN). Test code; threads are named
 * {@code nacos-standin-proxy-...} so that thread-leak checks count them as the server's.
 */
final class BlackHoleProxy implements AutoCloseable {
    private final int port;
    private final List<ServerSocket> listeners = new CopyOnWriteArrayList<>();
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final ExecutorService threads = Executors.newCachedThreadPool(
            new DaemonThreadFactory(NacosStandIn.THREAD_PREFIX + "-proxy"));
    private volatile boolean blackHole;

    private BlackHoleProxy(int port) {
        this.port = port;
    }

    /**
     * Starts a proxy on a free port pair forwarding to the stand-in.
     *
     * @param target the stand-in
     * @return the running proxy
     */
    static BlackHoleProxy to(NacosStandIn target) {
        BlackHoleProxy proxy = new BlackHoleProxy(NacosStandIn.freeMainPort());
        proxy.listen(proxy.port, target.port());
        proxy.listen(proxy.port + NacosStandIn.GRPC_OFFSET, target.port() + NacosStandIn.GRPC_OFFSET);
        return proxy;
    }

    /** The address to give nacos-client instead of the stand-in's. */
    String address() {
        return "127.0.0.1:" + port;
    }

    /** From now on nothing passes, in either direction, on old or new connections; nothing is closed. */
    void blackHole() {
        blackHole = true;
    }

    /** The link heals: new connections are forwarded again (old ones that saw data meanwhile stay dead). */
    void restore() {
        blackHole = false;
    }

    private void listen(int from, int to) {
        ServerSocket listener;
        try {
            listener = new ServerSocket();
            listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), from));
        } catch (IOException e) {
            throw new IllegalStateException("proxy cannot bind " + from, e);
        }
        listeners.add(listener);
        threads.execute(() -> {
            while (!listener.isClosed()) {
                try {
                    Socket client = listener.accept();
                    sockets.add(client);
                    if (blackHole) {
                        continue; // accepted, never answered
                    }
                    Socket server = new Socket(InetAddress.getLoopbackAddress(), to);
                    sockets.add(server);
                    threads.execute(() -> pump(client, server));
                    threads.execute(() -> pump(server, client));
                } catch (IOException e) {
                    // closed
                }
            }
        });
    }

    private void pump(Socket from, Socket to) {
        byte[] buffer = new byte[16384];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            int n;
            while ((n = in.read(buffer)) >= 0) {
                if (blackHole) {
                    return; // swallow, stop reading and close nothing: the peer's writes go unanswered
                }
                out.write(buffer, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // one side failed: end both, as a real link would
        }
        if (!blackHole) {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // closing anyway
        }
    }

    @Override
    public void close() {
        for (ServerSocket listener : listeners) {
            try {
                listener.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
        sockets.forEach(BlackHoleProxy::closeQuietly);
        threads.shutdownNow();
        try {
            threads.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
