package io.roster.zookeeper;

import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Backoff;
import io.roster.spi.DaemonThreadFactory;
import io.roster.spi.Durations;
import io.roster.spi.RetryTask;
import io.roster.spi.WatchHub;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.imps.CuratorFrameworkState;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.curator.retry.RetryUntilElapsed;
import org.apache.curator.utils.PathUtils;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The ZooKeeper backend, on Apache Curator, wire-compatible with Go Kratos's ZooKeeper registry.
 *
 * <pre>{@code
 * Registry registry = Registries.open("zookeeper://10.0.0.1:2181,10.0.0.2:2181/microservices?sessionTimeout=15s");
 * // or
 * Registry registry = ZooKeeperRegistry.builder().connectString("10.0.0.1:2181,10.0.0.2:2181").build();
 * // or on a CuratorFramework of yours, started, which close() leaves open
 * Registry registry = ZooKeeperRegistry.builder().client(curator).build();
 * }</pre>
 *
 * <p><b>Layout</b> (Kratos's): {@code <root>} and {@code <root>/<name>} are persistent nodes with empty data,
 * each instance is an ephemeral node {@code <root>/<name>/<id>} holding the instance JSON
 * ({@link io.roster.spi.InstanceJson}). Nodes get the ACL {@code world:anyone} with all permissions, or, with
 * {@link Builder#digest}, all permissions for that digest identity only (the client authenticates with it).
 *
 * <p><b>Keepalive and recovery.</b> An instance lives as long as the ZooKeeper session. After every reconnection
 * the registry checks each of its instances and writes again what is missing, which after a session expiry means
 * all of them, on the new session, retrying with backoff and without a ceiling. A node still held by an older
 * session (our expired one, which the server has not reaped yet, or a previous process with the same id) is
 * replaced in one version-checked transaction, so it does not vanish when that session ends. Re-registration
 * holds the registration lock and works from the current book, so a concurrent {@code deregister} is never
 * undone. A deregistration that cannot reach the server is finished on reconnection (if the session survived)
 * or by the session's end.
 *
 * <p><b>Watch.</b> A persistent recursive watch on {@code <root>/<name>} sees instances come and go <em>and</em>
 * their data change (Kratos watches only the child list). A missing service node is an empty list until it
 * appears; a child deleted while being read, or holding a malformed record, is skipped. While the connection is
 * down watchers keep the last list; after reconnection the service is read in full again.
 */
public final class ZooKeeperRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperRegistry.class);
    static final String DEFAULT_ROOT = "/microservices";
    static final Duration DEFAULT_SESSION_TIMEOUT = Duration.ofSeconds(15);
    static final Duration DEFAULT_CONNECTION_TIMEOUT = Duration.ofSeconds(5);

    private final CuratorFramework client;
    private final boolean ownsClient;
    private final ZooKeeperNodes nodes;
    private final ScheduledExecutorService worker;
    private final RetryTask recovery;
    private final ConnectionStateListener connectionListener = (c, state) -> connectionChanged(state);
    private final Map<String, ZooKeeperWatch> watches = new ConcurrentHashMap<>();
    private final Watcher dispatcher = this::dispatch;
    // Paths whose deletion a connection loss postponed; finished on reconnection. Guarded by registrationLock().
    private final Set<String> pendingDeletes = new HashSet<>();

    private ZooKeeperRegistry(String description, CuratorFramework client, boolean ownsClient, String root,
                              List<ACL> acl) {
        super(description);
        this.client = client;
        this.ownsClient = ownsClient;
        this.nodes = new ZooKeeperNodes(client, root, acl);
        this.worker = DaemonThreadFactory.scheduler("roster-zookeeper-worker");
        this.recovery = new RetryTask(description + ": register again", worker, Backoff.defaults(), this::recover);
        client.getConnectionStateListenable().addListener(connectionListener);
    }

    /**
     * Starts a builder.
     *
     * @return a builder; give it a {@link Builder#connectString} or a {@link Builder#client}
     */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected void doRegister(ServiceInstance instance, ServiceInstance previous) {
        byte[] record = ZooKeeperNodes.record(instance);
        String path = nodes.instancePath(instance);
        pendingDeletes.remove(path);
        try {
            nodes.write(path, record);
        } catch (Exception e) {
            if (previous == null && isConnectionLoss(e)) {
                // The create may have reached the server before the connection dropped: our session must not keep
                // alive an instance whose registration the caller saw fail.
                pendingDeletes.add(path);
            }
            throw failure("register " + path, e);
        }
    }

    @Override
    protected void doDeregister(ServiceInstance instance, boolean owned) {
        try {
            ZooKeeperNodes.checkPathElement("name", instance.name());
            ZooKeeperNodes.checkPathElement("id", instance.id());
        } catch (InvalidInstanceException e) {
            return; // ZooKeeper cannot hold such a node, so there is nothing to delete
        }
        String path = nodes.instancePath(instance);
        boolean ours = pendingDeletes.remove(path) || owned;
        try {
            nodes.delete(path);
        } catch (Exception e) {
            if (ours && isConnectionLoss(e)) {
                pendingDeletes.add(path);
                LOG.warn("{}: cannot delete {} now ({}); it is deleted on reconnection, or vanishes with the"
                        + " session", description(), path, e.toString());
                return;
            }
            throw failure("deregister " + path, e);
        }
    }

    @Override
    protected void deregisterAll(Collection<ServiceInstance> instances) {
        if (ownsClient) {
            return; // shutdown() closes our session, which deletes all its ephemeral nodes on the server at once
        }
        super.deregisterAll(instances);
        if (!pendingDeletes.isEmpty()) {
            LOG.warn("{}: {} stay until the supplied client's session ends", description(), pendingDeletes);
            pendingDeletes.clear();
        }
    }

    @Override
    protected List<ServiceInstance> doGetService(String name) {
        ZooKeeperNodes.checkPathElement("name", name);
        try {
            return new ArrayList<>(nodes.readService(name).values());
        } catch (Exception e) {
            throw failure("getService " + name, e);
        }
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        ZooKeeperNodes.checkPathElement("name", name);
        ZooKeeperWatch watch = new ZooKeeperWatch(client, nodes, name, sink, worker, dispatcher,
                closed -> watches.remove(name, closed));
        watches.put(name, watch);
        return watch.start();
    }

    private void dispatch(WatchedEvent event) {
        String service = nodes.serviceOf(event.getPath());
        ZooKeeperWatch watch = service == null ? null : watches.get(service);
        if (watch != null) {
            watch.changed(event);
        }
    }

    @Override
    protected void shutdown() {
        client.getConnectionStateListenable().removeListener(connectionListener);
        recovery.close();
        worker.shutdownNow();
        if (ownsClient) {
            client.close();
        }
    }

    /**
     * Stops without deregistering, for tests of a dead process: the session is closed, and the server drops its
     * ephemeral nodes with it (a crashed process's would go when its session expires).
     */
    void kill() {
        abandon();
    }

    /** Returns the Curator client, for tests that break its session. */
    CuratorFramework curator() {
        return client;
    }

    private void connectionChanged(ConnectionState state) {
        if (state.isConnected()) {
            recovery.trigger(); // a no-op while nothing is registered
        }
        switch (state) {
            case SUSPENDED:
                LOG.info("{}: connection lost; instances stay registered while the session lives", description());
                break;
            case LOST:
                LOG.warn("{}: session lost; registered instances are written again on the next session",
                        description());
                break;
            default:
                break;
        }
    }

    /** Finishes postponed deletions and writes again every registration that is missing or stale. */
    private void recover() throws Exception {
        registrationLock().lock();
        try {
            if (isClosed() || !client.getZookeeperClient().isConnected()) {
                return; // the next RECONNECTED triggers another run
            }
            for (Iterator<String> it = pendingDeletes.iterator(); it.hasNext(); ) {
                nodes.deleteIfOwned(it.next());
                it.remove();
            }
            int written = 0;
            for (ServiceInstance instance : registrations()) {
                if (nodes.write(nodes.instancePath(instance), ZooKeeperNodes.record(instance))) {
                    written++;
                }
            }
            if (written > 0) {
                LOG.info("{}: registered {} instance(s) again on session 0x{}", description(), written,
                        Long.toHexString(client.getZookeeperClient().getZooKeeper().getSessionId()));
            }
        } catch (KeeperException.ConnectionLossException | KeeperException.SessionExpiredException e) {
            LOG.debug("{}: connection lost again while registering again: {}", description(), e.toString());
        } finally {
            registrationLock().unlock();
        }
    }

    static boolean isConnectionLoss(Exception e) {
        return e instanceof KeeperException.ConnectionLossException
                || e instanceof KeeperException.SessionExpiredException
                || e instanceof KeeperException.OperationTimeoutException;
    }

    private RegistryException failure(String action, Exception e) {
        if (e instanceof InterruptedException) {
            Thread.currentThread().interrupt();
        }
        if (e instanceof KeeperException.NoAuthException || e instanceof KeeperException.AuthFailedException) {
            return new RegistryAccessDeniedException(action + " failed: " + description() + " denied access ("
                    + e.getMessage() + "); check the digest credentials and the ACL of the root path", e);
        }
        return unavailable(action, e);
    }

    /**
     * Builds a {@link ZooKeeperRegistry}: either on a connect string, creating and owning its Curator client, or on
     * a {@link CuratorFramework} of yours.
     */
    public static final class Builder {
        private String connectString;
        private CuratorFramework client;
        private String rootPath = DEFAULT_ROOT;
        private Duration sessionTimeout;
        private Duration connectionTimeout;
        private String digestUser;
        private String digestPassword;

        private Builder() {
        }

        /**
         * Sets the ensemble to connect to; the registry creates its Curator client and closes it on close.
         *
         * @param connectString such as {@code 10.0.0.1:2181,10.0.0.2:2181}
         * @return this builder
         */
        public Builder connectString(String connectString) {
            Objects.requireNonNull(connectString, "connectString");
            if (connectString.isBlank()) {
                throw new InvalidOptionException("connectString", "zookeeper connectString must not be blank");
            }
            this.connectString = connectString.trim();
            return this;
        }

        /**
         * Uses a Curator client of yours instead of creating one. It must be started; {@code close()} leaves it
         * open. Its session and connection timeouts, retry policy and namespace apply (paths are relative to the
         * namespace). With {@link #digest}, build it with {@code .authorization("digest", "user:password")}.
         *
         * @param client a started client
         * @return this builder
         */
        public Builder client(CuratorFramework client) {
            this.client = Objects.requireNonNull(client, "client");
            return this;
        }

        /**
         * Sets the root path under which services are registered, as Kratos's {@code WithRootPath}.
         *
         * @param rootPath an absolute ZooKeeper path; {@code /microservices} by default
         * @return this builder
         */
        public Builder rootPath(String rootPath) {
            this.rootPath = normalizeRoot(Objects.requireNonNull(rootPath, "rootPath"));
            return this;
        }

        /**
         * Sets the ZooKeeper session timeout: how long instances outlive a process that stopped talking to the
         * ensemble. The server bounds it to between 2 and 20 ticks (4 s to 40 s with the default tick).
         *
         * @param sessionTimeout a positive duration; 15 s by default
         * @return this builder
         */
        public Builder sessionTimeout(Duration sessionTimeout) {
            this.sessionTimeout = positive("sessionTimeout", sessionTimeout);
            return this;
        }

        /**
         * Sets how long an operation, and {@link #build()}, waits for a connection to the ensemble before failing
         * with a {@link RegistryUnavailableException}.
         *
         * @param connectionTimeout a positive duration; 5 s by default
         * @return this builder
         */
        public Builder connectionTimeout(Duration connectionTimeout) {
            this.connectionTimeout = positive("connectionTimeout", connectionTimeout);
            return this;
        }

        /**
         * Protects the nodes the registry creates with a digest ACL (all permissions for this identity only, as
         * Kratos's {@code WithDigestACL}) and authenticates the created client with it. Clients without these
         * credentials can then neither read nor change them.
         *
         * @param user the user, without {@code ':'}
         * @param password the password; never logged
         * @return this builder
         */
        public Builder digest(String user, String password) {
            Objects.requireNonNull(user, "user");
            Objects.requireNonNull(password, "password");
            if (user.isEmpty() || user.indexOf(':') >= 0) {
                throw new InvalidOptionException("digest", "zookeeper digest user must be non-empty and without ':'");
            }
            if (password.isEmpty()) {
                throw new InvalidOptionException("digest", "zookeeper digest password must not be empty");
            }
            this.digestUser = user;
            this.digestPassword = password;
            return this;
        }

        /**
         * Opens the registry. With a connect string, waits up to the connection timeout for the first connection.
         *
         * @return an open registry
         * @throws InvalidOptionException when the options contradict each other
         * @throws RegistryUnavailableException when the ensemble cannot be reached in time
         */
        public ZooKeeperRegistry build() {
            if ((connectString == null) == (client == null)) {
                throw new InvalidOptionException("connectString", "zookeeper registry needs exactly one of"
                        + " connectString and client");
            }
            List<ACL> acl = digestUser == null ? ZooDefs.Ids.OPEN_ACL_UNSAFE : digestAcl(digestUser, digestPassword);
            if (client != null) {
                if (sessionTimeout != null || connectionTimeout != null) {
                    throw new InvalidOptionException(sessionTimeout != null ? "sessionTimeout" : "connectionTimeout",
                            "zookeeper timeouts apply to a client the registry creates; set them on the supplied"
                                    + " CuratorFramework instead");
                }
                if (client.getState() != CuratorFrameworkState.STARTED) {
                    throw new InvalidOptionException("client", "the supplied CuratorFramework must be started, was "
                            + client.getState());
                }
                String description = "zookeeper at " + client.getZookeeperClient().getCurrentConnectionString()
                        + rootPath;
                return new ZooKeeperRegistry(description, client, false, rootPath, acl);
            }
            CuratorFramework created = connect();
            return new ZooKeeperRegistry("zookeeper at " + connectString + rootPath, created, true, rootPath, acl);
        }

        private CuratorFramework connect() {
            Duration session = sessionTimeout == null ? DEFAULT_SESSION_TIMEOUT : sessionTimeout;
            Duration connection = connectionTimeout == null ? DEFAULT_CONNECTION_TIMEOUT : connectionTimeout;
            int connectionMs = (int) connection.toMillis();
            CuratorFrameworkFactory.Builder b = CuratorFrameworkFactory.builder()
                    .connectString(connectString)
                    .sessionTimeoutMs((int) session.toMillis())
                    .connectionTimeoutMs(connectionMs)
                    // An operation waits for a connection up to the timeout, retrying across short losses.
                    .retryPolicy(new RetryUntilElapsed(connectionMs, 100))
                    .waitForShutdownTimeoutMs(connectionMs)
                    .threadFactory(new DaemonThreadFactory("roster-zookeeper-curator"));
            if (digestUser != null) {
                b.authorization("digest", (digestUser + ":" + digestPassword).getBytes(StandardCharsets.UTF_8));
            }
            CuratorFramework created = b.build();
            created.start();
            try {
                if (created.blockUntilConnected(connectionMs, TimeUnit.MILLISECONDS)) {
                    return created;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            created.close();
            throw new RegistryUnavailableException("cannot connect to zookeeper at " + connectString + " within "
                    + Durations.format(connection), null);
        }

        private static List<ACL> digestAcl(String user, String password) {
            try {
                String id = DigestAuthenticationProvider.generateDigest(user + ":" + password);
                return List.of(new ACL(ZooDefs.Perms.ALL, new Id("digest", id)));
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("the JVM lacks the digest algorithm ZooKeeper uses", e);
            }
        }

        static String normalizeRoot(String rootPath) {
            String root = rootPath.trim();
            while (root.length() > 1 && root.endsWith("/")) {
                root = root.substring(0, root.length() - 1);
            }
            try {
                PathUtils.validatePath(root);
            } catch (IllegalArgumentException e) {
                throw new InvalidOptionException("rootPath", "zookeeper root path must be an absolute ZooKeeper"
                        + " path such as /microservices, was '" + rootPath + "': " + e.getMessage());
            }
            return root;
        }

        private static Duration positive(String name, Duration value) {
            Objects.requireNonNull(value, name);
            if (value.isNegative() || value.toMillis() < 1 || value.toMillis() > Integer.MAX_VALUE) {
                throw new InvalidOptionException(name, "zookeeper " + name + " must be between 1ms and "
                        + Integer.MAX_VALUE + "ms, was " + value);
            }
            return value;
        }

        /**
         * Describes the settings, with the digest password masked.
         *
         * @return such as {@code ZooKeeperRegistry.Builder{connectString=h:2181, rootPath=/microservices,
         *     digest=app:***}}
         */
        @Override
        public String toString() {
            return "ZooKeeperRegistry.Builder{" + (client != null ? "client=supplied" : "connectString=" + connectString)
                    + ", rootPath=" + rootPath
                    + (sessionTimeout == null ? "" : ", sessionTimeout=" + Durations.format(sessionTimeout))
                    + (connectionTimeout == null ? "" : ", connectionTimeout=" + Durations.format(connectionTimeout))
                    + (digestUser == null ? "" : ", digest=" + digestUser + ":***") + "}";
        }
    }
}
