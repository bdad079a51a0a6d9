package io.roster.zookeeper;

import org.apache.zookeeper.ZooDefs;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A TCP proxy between one ZooKeeper client and a server that reads the client protocol's framing (a 4-byte length
 * before every packet; requests start with xid and op code, replies with the xid) to count the client's
 * {@code getData} requests and how many of them were waiting for their reply at once. It can hold the replies to
 * {@code getData} back until enough requests are in flight, which tells a client that pipelines its reads from one
 * that waits for each reply before sending the next, whatever the machine's speed. It can also cut the
 * connections, so that the client reconnects (through the proxy, on the same session). Test code only.
 */
final class ZooKeeperTap implements AutoCloseable {
    private final ServerSocket listener;
    private final int serverPort;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final Thread acceptor;
    private volatile boolean closed;

    // guarded by this
    private int readsSent;
    private int readsInFlight;
    private int maxReadsInFlight;
    private int holdUntilInFlight;
    private long holdDeadline;

    ZooKeeperTap(int serverPort) throws IOException {
        this.serverPort = serverPort;
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.acceptor = new Thread(this::accept, "zookeeper-tap-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    String connectString() {
        return "127.0.0.1:" + listener.getLocalPort();
    }

    /** How many getData requests the client sent through the proxy so far. */
    synchronized int readsSent() {
        return readsSent;
    }

    /** The most getData requests that were waiting for their reply at one time since the last {@link #holdReplies}. */
    synchronized int maxReadsInFlight() {
        return maxReadsInFlight;
    }

    /**
     * From now on, holds replies to getData back until {@code inFlight} requests wait for theirs, or {@code atMost}
     * has passed; then lets everything through again. Also restarts {@link #maxReadsInFlight}.
     */
    synchronized void holdReplies(int inFlight, Duration atMost) {
        holdUntilInFlight = inFlight;
        holdDeadline = System.nanoTime() + atMost.toNanos();
        maxReadsInFlight = readsInFlight;
        notifyAll();
    }

    /** Cuts every connection; the client connects again through the proxy. */
    void dropConnections() throws IOException {
        for (Socket socket : sockets) {
            socket.close();
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        listener.close();
        dropConnections();
        synchronized (this) {
            notifyAll();
        }
    }

    private void accept() {
        while (!closed) {
            try {
                Socket client = listener.accept();
                Socket server = new Socket(InetAddress.getLoopbackAddress(), serverPort);
                client.setTcpNoDelay(true);
                server.setTcpNoDelay(true);
                sockets.add(client);
                sockets.add(server);
                Map<Integer, Integer> opByXid = new ConcurrentHashMap<>();
                pump("zookeeper-tap-up", client, server, () -> requests(client, server, opByXid));
                pump("zookeeper-tap-down", server, client, () -> replies(server, client, opByXid));
            } catch (IOException e) {
                if (!closed) {
                    throw new IllegalStateException("tap cannot accept", e);
                }
            }
        }
    }

    private void pump(String name, Socket from, Socket to, IoTask task) {
        Thread thread = new Thread(() -> {
            try {
                task.run();
            } catch (IOException | InterruptedException e) {
                // connection cut: close both ends, the client reconnects
            } finally {
                closeQuietly(from);
                closeQuietly(to);
                sockets.remove(from);
                sockets.remove(to);
            }
        }, name);
        thread.setDaemon(true);
        thread.start();
    }

    private void requests(Socket client, Socket server, Map<Integer, Integer> opByXid) throws IOException {
        DataInputStream in = new DataInputStream(new BufferedInputStream(client.getInputStream()));
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(server.getOutputStream()));
        forward(in, out); // the connect request has no request header
        while (true) {
            byte[] packet = forwardHeaderFirst(in);
            ByteBuffer header = ByteBuffer.wrap(packet);
            int xid = header.getInt();
            int op = header.getInt();
            if (xid > 0) { // pings, auth and set-watches use negative xids
                opByXid.put(xid, op);
                if (op == ZooDefs.OpCode.getData) {
                    synchronized (this) {
                        readsSent++;
                        readsInFlight++;
                        maxReadsInFlight = Math.max(maxReadsInFlight, readsInFlight);
                        notifyAll();
                    }
                }
            }
            write(out, packet);
        }
    }

    private void replies(Socket server, Socket client, Map<Integer, Integer> opByXid)
            throws IOException, InterruptedException {
        DataInputStream in = new DataInputStream(new BufferedInputStream(server.getInputStream()));
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(client.getOutputStream()));
        try {
            forward(in, out); // the connect response has no reply header
            while (true) {
                byte[] packet = forwardHeaderFirst(in);
                int xid = ByteBuffer.wrap(packet).getInt();
                Integer op = opByXid.remove(xid);
                if (op != null && op == ZooDefs.OpCode.getData) {
                    synchronized (this) {
                        while (!closed && readsInFlight < holdUntilInFlight && System.nanoTime() < holdDeadline) {
                            wait(Math.max(1, (holdDeadline - System.nanoTime()) / 1_000_000));
                        }
                        holdUntilInFlight = 0; // one hold at a time: released for good
                        readsInFlight--;
                    }
                }
                write(out, packet);
            }
        } finally {
            // Requests whose replies the cut connection lost are no longer in flight.
            synchronized (this) {
                readsInFlight -= (int) opByXid.values().stream().filter(op -> op == ZooDefs.OpCode.getData).count();
                opByXid.clear();
            }
        }
    }

    private static void forward(DataInputStream in, DataOutputStream out) throws IOException {
        write(out, forwardHeaderFirst(in));
    }

    private static byte[] forwardHeaderFirst(DataInputStream in) throws IOException {
        int length = in.readInt();
        if (length < 0 || length > 64 << 20) {
            throw new EOFException("not a ZooKeeper packet length: " + length);
        }
        byte[] packet = new byte[length];
        in.readFully(packet);
        return packet;
    }

    private static void write(DataOutputStream out, byte[] packet) throws IOException {
        out.writeInt(packet.length);
        out.write(packet);
        out.flush();
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // closing anyway
        }
    }

    @FunctionalInterface
    private interface IoTask {
        void run() throws IOException, InterruptedException;
    }
}
