package io.roster.nacos;

import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.common.remote.client.Connection;
import com.alibaba.nacos.common.remote.client.ConnectionEventListener;
import com.alibaba.nacos.common.remote.client.RpcClient;
import com.alibaba.nacos.common.remote.client.grpc.GrpcConnection;
import com.alibaba.nacos.shaded.io.grpc.ManagedChannel;
import com.alibaba.nacos.shaded.io.grpc.Status;
import com.alibaba.nacos.shaded.io.grpc.internal.ManagedClientTransport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What this backend needs from a {@code NacosNamingService} that nacos-client has no API for, reached by reflection
 * and kept in this one class:
 *
 * <ul>
 *   <li>the state of its gRPC connection, with an event when it comes back after a loss, so that watchers can keep
 *       their lists while the server is restarting and its clients are re-registering (nacos-client only offers
 *       {@code getServerStatus()}, which misses a reconnection that happens between two looks);</li>
 *   <li>a hard close of that connection after {@code shutDown()}: nacos-client closes its channel with
 *       {@code shutdownNow()}, but a request that timed out against a server that stopped answering (a
 *       black-holed link, a frozen host) stays open on the HTTP/2 connection, which then never closes, and with it
 *       gRPC's shared Netty threads ({@code grpc-nio-worker-ELG-*}) and executor ({@code grpc-default-executor-*})
 *       live on in the JVM for minutes; shutting the transports down directly ends them;</li>
 *   <li>a wake-up for the fuzzy-watch worker after {@code shutDown()}, which otherwise finishes its 5 s poll
 *       first.</li>
 * </ul>
 *
 * Every step is optional: when nacos-client's internals differ (another version, a {@code NamingService} that is
 * not nacos-client's own), the step is skipped, logged once at INFO, and the registry works as before without it.
 * The tests for the behaviours above fail when a nacos-client upgrade breaks a step.
 */
final class NacosClientInternals implements ConnectionEventListener {
    private static final Logger LOG = LoggerFactory.getLogger(NacosClientInternals.class);

    private final NamingService naming;
    private final RpcClient rpc; // null when it cannot be reached
    private final long graceNanos;
    private volatile boolean connected;
    private volatile boolean lost; // the connection was up once and went down since
    private volatile long reconnectedAt;
    private volatile Runnable onReconnect; // null once closed: the client may outlive this registry

    private NacosClientInternals(NamingService naming, RpcClient rpc, Duration grace, Runnable onReconnect) {
        this.naming = naming;
        this.rpc = rpc;
        this.graceNanos = grace.toNanos();
        this.onReconnect = onReconnect;
        this.connected = rpc == null || rpc.isRunning();
    }

    /**
     * Attaches to a naming client.
     *
     * @param naming the client
     * @param grace how long after a reconnection the connection still counts as recovering
     * @param onReconnect runs (on nacos-client's event thread, so it must not block) each time the connection is
     *     back after a loss
     * @return the attachment; its connection state falls back to {@code getServerStatus()} when the client's
     *     connection cannot be reached
     */
    static NacosClientInternals attach(NamingService naming, Duration grace, Runnable onReconnect) {
        RpcClient rpc = rpcClient(naming).orElse(null);
        NacosClientInternals internals = new NacosClientInternals(naming, rpc, grace, onReconnect);
        if (rpc != null) {
            // nacos-client registers its own listener (the redo service) before connecting; adding ours now races
            // only with the event thread's first notification, which has reached the redo service by then.
            rpc.registerConnectionListener(internals);
            internals.connected = rpc.isRunning();
        }
        return internals;
    }

    /**
     * Tells whether the connection is down, or came back after a loss less than the grace period ago: the server
     * may be restarting and other clients may not have registered again yet.
     *
     * @return true while recovering
     */
    boolean recovering() {
        if (rpc == null) {
            return !"UP".equals(naming.getServerStatus());
        }
        return !connected || (lost && System.nanoTime() - reconnectedAt < graceNanos);
    }

    @Override
    public void onConnected(Connection connection) {
        connected = true;
        if (lost) {
            reconnectedAt = System.nanoTime();
            Runnable callback = onReconnect;
            if (callback != null) {
                callback.run();
            }
        }
    }

    @Override
    public void onDisConnect(Connection connection) {
        connected = false;
        lost = true;
    }

    /**
     * Ends what nacos-client's {@code shutDown()} leaves running (see the class comment). Call after it.
     */
    void afterShutdown() {
        onReconnect = null;
        wakeFuzzyWatchWorker();
        if (rpc != null) {
            closeTransports();
        }
    }

    /**
     * Detaches from a client this registry does not own, which lives on: the listener stays registered with it
     * (nacos-client cannot remove one), inert and holding nothing of this registry.
     */
    void detach() {
        onReconnect = null;
    }

    private void wakeFuzzyWatchWorker() {
        try {
            Object holder = Objects.requireNonNull(field(naming, "namingFuzzyWatchServiceListHolder"));
            Method wake = holder.getClass().getDeclaredMethod("notifyFuzzyWatchSync");
            wake.setAccessible(true);
            wake.invoke(holder);
        } catch (ReflectiveOperationException | RuntimeException e) {
            skipped("waking nacos-client's fuzzy-watch worker after shutdown", e);
        }
    }

    private void closeTransports() {
        try {
            Object connection = field(rpc, "currentConnection");
            if (!(connection instanceof GrpcConnection)) {
                return; // never connected
            }
            ManagedChannel channel = ((GrpcConnection) connection).getChannel();
            if (channel == null || channel.isTerminated()) {
                return;
            }
            Object impl = Objects.requireNonNull(field(channel, "delegate")); // ManagedChannelImpl in its wrapper
            List<ManagedClientTransport> transports = new ArrayList<>();
            for (Object subchannel : new ArrayList<>((Collection<?>) field(impl, "subchannels"))) {
                for (Object transport : new ArrayList<>((Collection<?>) field(subchannel, "transports"))) {
                    transports.add((ManagedClientTransport) transport);
                }
            }
            Status closed = Status.UNAVAILABLE.withDescription("nacos-client shut down");
            transports.forEach(t -> t.shutdownNow(closed));
        } catch (ReflectiveOperationException | RuntimeException e) {
            skipped("closing nacos-client's gRPC transport after shutdown", e);
        }
    }

    private static Optional<RpcClient> rpcClient(NamingService naming) {
        try {
            Object delegate = Objects.requireNonNull(field(naming, "clientProxy"));
            Object grpc = Objects.requireNonNull(field(delegate, "grpcClientProxy"));
            return Optional.of((RpcClient) Objects.requireNonNull(field(grpc, "rpcClient")));
        } catch (ReflectiveOperationException | RuntimeException e) {
            skipped("following nacos-client's connection (watchers then keep their lists only while it is down, "
                    + "not during the re-registration after it is back)", e);
            return Optional.empty();
        }
    }

    /** Reads a field declared by the target's class or a superclass; {@code null} when it holds null. */
    private static Object field(Object target, String name) throws ReflectiveOperationException {
        for (Class<?> c = target.getClass(); c != null; c = c.getSuperclass()) {
            for (Field field : c.getDeclaredFields()) {
                if (field.getName().equals(name)) {
                    field.setAccessible(true);
                    return field.get(target);
                }
            }
        }
        throw new NoSuchFieldException(name + " in " + target.getClass().getName());
    }

    private static volatile boolean loggedSkip;

    private static void skipped(String what, Exception e) {
        if (!loggedSkip) {
            loggedSkip = true;
            LOG.info("Skipping {}: this nacos-client differs from 3.1 ({})", what, e.toString());
        } else {
            LOG.debug("Skipping {}: {}", what, e.toString());
        }
    }
}
