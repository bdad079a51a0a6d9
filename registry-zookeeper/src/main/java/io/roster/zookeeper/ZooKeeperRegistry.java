package io.roster.zookeeper;

import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.AbstractRegistry;
import io.roster.spi.Options;
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
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

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
 * the registry checks each of its instances and writes again what is missing or stale, which after a session
 * expiry means all of them, on the new session, retrying with backoff and without a ceiling. A node that an
 * earlier session of this registry still holds (the server has not reaped it yet: Dubbo #5125) is replaced in one
 * version-checked transaction, so it does not vanish when that session ends; {@code register} likewise claims a
 * node another session holds (a previous process with the same id). While the session lives, a one-shot watch on
 * each of our nodes brings a node deleted or changed by someone else (zkCli {@code delete}) back at once. A node
 * that another live process took over (it registered the same id) is left to it: two registrants of one id never
 * fight. Re-registration holds the registration lock and works from the current book, so a concurrent
 * {@code deregister} is never undone.
 *
 * <p><b>Deregistration</b> deletes the node only if the current session owns it, with a version-checked delete
 * after reading its owner; an instance this registry did not register, even one on a session it shares, is not
 * touched. A deregistration that cannot reach the server is finished on reconnection (if the session survived)
 * or by the session's end.
 *
 * <p><b>Watch.</b> A persistent recursive watch on {@code <root>/<name>} sees instances come and go <em>and</em>
 * their data change (Kratos watches only the child list). A change costs what changed: a deleted child is dropped
 * without a read, an added or changed one is read alone. A missing service node is an empty list until it
 * appears; a child deleted while being read, or holding a malformed record, is skipped. The full reads, when a
 * watch opens and after every reconnection, read the children concurrently. While the connection is down watchers
 * keep the last list. An update of one of our instances changes its node in place (watchers never see it missing)
 * and creates and deletes a sibling in the same transaction, so that Kratos's child watches fire too.
 *
 * <p><b>A caller's client.</b> On close the registry removes its watches from the client and detaches its
 * watchers, so that nothing of it stays reachable from a long-lived client. (ZooKeeper's client drops the
 * Disconnected event that follows a watch removal failed by a connection loss; if a watch is closed just as the
 * connection breaks, Curator's listeners on that client may miss that one disconnection. The registry itself
 * also hears reconnections on its own watches.)
 */
public final class ZooKeeperRegistry extends AbstractRegistry {
    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperRegistry.class);
    static final String DEFAULT_ROOT = "/microservices";
    static final Duration DEFAULT_SESSION_TIMEOUT = Duration.ofSeconds(15);
    static final Duration DEFAULT_CONNECTION_TIMEOUT = Duration.ofSeconds(5);
    /** Sessions of ours remembered, so that recovery can take back a node one of them still holds. */
    private static final int KNOWN_SESSIONS = 8;

    private final CuratorFramework client;
    private final boolean ownsClient;
    private final ZooKeeperNodes nodes;
    private final ScheduledExecutorService worker;
    private final RetryTask upkeep;
    private final ConnectionStateListener connectionListener = (c, state) -> connectionChanged(state);
    /**
     * Set as a one-shot watch on each of our instance nodes: someone else deleting or changing one prompts a
     * restore. Our own deletion fires it, which removes it from the client; it is never removed explicitly.
     */
    private final ZooKeeperNodes.Relay ownNodeWatcher = new ZooKeeperNodes.Relay(this::ownNodeChanged);
    private final Set<String> suspects = ConcurrentHashMap.newKeySet(); // own nodes changed by an event
    /**
     * Own nodes as the server last showed them to our watch (path to version), on this session, with no event since:
     * deregistering such a node is one version-checked delete, without reading it first. Filled by the watch's
     * callback, emptied by any event of that watch or a reconnection, both on ZooKeeper's event thread in the
     * server's order, so an entry never outlives a change the client has heard of.
     */
    private final Map<String, Integer> intact = new ConcurrentHashMap<>();
    private volatile boolean fullCheck; // set on every (re)connection
    // Guarded by registrationLock(): paths whose deletion a connection loss postponed, finished on reconnection;
    // the sessions this registry has had, newest last.
    private final Set<String> pendingDeletes = new HashSet<>();
    private final Set<Long> knownSessions = new LinkedHashSet<>();

    private ZooKeeperRegistry(String description, CuratorFramework client, boolean ownsClient, String root,
                              List<ACL> acl, int maxRecordBytes) {
        super(description);
        this.client = client;
        this.ownsClient = ownsClient;
        // Paths on the server: a supplied client's namespace becomes part of the root, and every call goes through
        // the namespace-free view, so that Curator's calls and ZooKeeper's own (watches, asynchronous reads) agree.
        String namespace = client.getNamespace();
        String serverRoot = namespace == null || namespace.isEmpty() ? root : ZKPaths.makePath(namespace, root);
        this.nodes = new ZooKeeperNodes(client.usingNamespace(null), serverRoot, acl, maxRecordBytes);
        this.worker = DaemonThreadFactory.scheduler("roster-zookeeper-worker");
        this.upkeep = new RetryTask(description + ": keep instances registered", worker, Backoff.defaults(),
                this::upkeep);
        rememberSession();
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
        byte[] record = nodes.record(instance);
        String path = nodes.instancePath(instance);
        pendingDeletes.remove(path);
        try {
            nodes.write(path, record, owner -> true); // registering claims the id, as Kratos does
            watchOwnNode(path);
            rememberSession();
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
        if (!(pendingDeletes.remove(path) || owned)) {
            return; // another registry's instance: not ours to touch, even on a session we share with it
        }
        try {
            Integer version = intact.remove(path);
            // One round trip for a node no event has touched since our watch saw it (a node someone else deleted
            // and re-created at that very moment, its events still on their way, is the one case this cannot
            // tell); otherwise read the owner first.
            if (version == null || !nodes.deleteVersion(path, version)) {
                nodes.deleteIfOwned(path);
            }
        } catch (Exception e) {
            if (isConnectionLoss(e)) {
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
    protected Collection<String> doServices() {
        try {
            return nodes.services().stream().filter(ZooKeeperRegistry::isReadableName).toList();
        } catch (Exception e) {
            throw failure("services", e);
        }
    }

    private static boolean isReadableName(String name) {
        try {
            ServiceInstance.requireReadableName(name);
            ZooKeeperNodes.checkPathElement("name", name);
            return true;
        } catch (InvalidInstanceException e) {
            return false; // not a service anyone could ask for by name
        }
    }

    @Override
    protected WatchHub.Subscription subscribe(String name, WatchHub.Sink sink) {
        ZooKeeperNodes.checkPathElement("name", name);
        return new ZooKeeperWatch(client, nodes, name, sink, worker).start();
    }

    @Override
    protected void shutdown() {
        client.getConnectionStateListenable().removeListener(connectionListener);
        upkeep.close();
        // A one-shot watch not fired yet (an instance left registered by kill(), or held by another session)
        // stays with a supplied client until it fires; detached, it holds nothing of this registry.
        ownNodeWatcher.detach();
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

    /** For {@link ZooKeeperInspector}: the root path on the server (a supplied client's namespace included). */
    String inspectionRoot() { return nodes.root(); }

    /** Returns the Curator client, for tests that break its session. */
    CuratorFramework curator() {
        return client;
    }

    private void connectionChanged(ConnectionState state) {
        if (state.isConnected()) {
            intact.clear();
            fullCheck = true;
            upkeep.trigger(); // a no-op while nothing is registered
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

    private void ownNodeChanged(WatchedEvent event) {
        if (ZooKeeperNodes.Relay.isConnected(event)) {
            // Reconnected: also heard here, as Curator may miss it (ZooKeeper drops a Disconnected event that
            // follows a failed watch removal, and Curator then sees no change of state).
            intact.clear();
            fullCheck = true;
            upkeep.trigger();
        } else if (event.getPath() != null && event.getType() != Watcher.Event.EventType.None) {
            intact.remove(event.getPath());
            suspects.add(event.getPath()); // deleted, changed, or created: look, and watch again
            upkeep.trigger();
        }
    }

    /**
     * Sets (again) the one-shot watch on one of our nodes, just written; it fires on the node's deletion or change.
     * A node already gone again by then is restored as if the watch had fired.
     */
    private void watchOwnNode(String path) {
        try {
            nodes.zooKeeper().exists(path, ownNodeWatcher, (rc, p, ctx, stat) -> {
                if (rc == KeeperException.Code.NONODE.intValue()) {
                    suspects.add(path);
                    upkeep.trigger();
                } else if (rc == KeeperException.Code.OK.intValue() && stat != null && ownedByThisSession(stat)) {
                    intact.put(path, stat.getVersion());
                }
            }, null);
        } catch (Exception e) {
            LOG.debug("{}: cannot watch {} now ({}); the next reconnection does", description(), path, e.toString());
        }
    }

    private boolean ownedByThisSession(Stat stat) {
        try {
            return stat.getEphemeralOwner() == nodes.sessionId();
        } catch (Exception e) {
            return false; // no session now: nothing to trust
        }
    }

    private void rememberSession() {
        try {
            long session = nodes.sessionId();
            if (session != 0) {
                registrationLock().lock();
                try {
                    knownSessions.remove(session);
                    knownSessions.add(session);
                    if (knownSessions.size() > KNOWN_SESSIONS) {
                        knownSessions.remove(knownSessions.iterator().next());
                    }
                } finally {
                    registrationLock().unlock();
                }
            }
        } catch (Exception e) {
            LOG.debug("{}: no session to remember: {}", description(), e.toString());
        }
    }

    /**
     * Keeps every registration on the server. On every (re)connection: finishes postponed deletions and writes
     * every registration again where it is missing or stale, on the current session, taking back nodes that an
     * earlier session of ours still holds. On an event of one of our nodes (someone deleted it or changed its
     * data): writes that one back. A node that another process's session holds (it registered the same id) is left
     * to it, so that two registrants of one id never fight.
     */
    private void upkeep() throws Exception {
        registrationLock().lock();
        try {
            if (isClosed() || !nodes.isConnected()) {
                return; // the next (re)connection triggers another run
            }
            if (fullCheck) {
                fullCheck = false;
                try {
                    recoverAll();
                } catch (Exception e) {
                    fullCheck = true;
                    throw e;
                }
            } else {
                restoreSuspects();
            }
        } catch (KeeperException.ConnectionLossException | KeeperException.SessionExpiredException e) {
            LOG.debug("{}: connection lost again while registering again: {}", description(), e.toString());
        } finally {
            registrationLock().unlock();
        }
    }

    private void recoverAll() throws Exception {
        suspects.clear(); // this run looks at everything
        rememberSession();
        for (Iterator<String> it = pendingDeletes.iterator(); it.hasNext(); ) {
            nodes.deleteIfOwned(it.next());
            it.remove();
        }
        int written = 0;
        for (ServiceInstance instance : registrations()) {
            String path = nodes.instancePath(instance);
            if (nodes.write(path, nodes.record(instance), knownSessions::contains)) {
                written++;
            }
            watchOwnNode(path); // a new session has no watch of ours
        }
        if (written > 0) {
            LOG.info("{}: registered {} instance(s) again on session 0x{}", description(), written,
                    Long.toHexString(nodes.sessionId()));
        }
    }

    private void restoreSuspects() throws Exception {
        Map<String, ServiceInstance> registered = new HashMap<>();
        for (ServiceInstance instance : registrations()) {
            registered.put(nodes.instancePath(instance), instance);
        }
        for (Iterator<String> it = suspects.iterator(); it.hasNext(); ) {
            String path = it.next();
            it.remove();
            ServiceInstance instance = registered.get(path);
            if (instance == null) {
                continue; // deregistered: no longer ours to keep, nor to watch
            }
            try {
                if (nodes.write(path, nodes.record(instance), knownSessions::contains)) {
                    LOG.info("{}: {} was deleted or changed by someone else; written again", description(), path);
                }
                watchOwnNode(path);
            } catch (Exception e) {
                suspects.add(path); // tried again
                throw e;
            }
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
        private int maxRecordBytes = ZooKeeperNodes.DEFAULT_MAX_RECORD_BYTES;

        private Builder() {
        }

        /**
         * Sets the ensemble to connect to; the registry creates its Curator client and closes it on close.
         *
         * @param connectString such as {@code 10.0.0.1:2181,10.0.0.2:2181}
         * @return this builder
         */
        public Builder connectString(String connectString) {
            Options.required(connectString, "connectString");
            if (connectString.isBlank()) {
                throw new InvalidOptionException("connectString", "zookeeper connectString must not be blank");
            }
            this.connectString = connectString.trim();
            return this;
        }

        /**
         * Uses a Curator client of yours instead of creating one. It must be started; {@code close()} leaves it
         * open, deletes the instances this registry registered and removes its watches, so that nothing of the
         * registry stays with a long-lived client. Its session and connection timeouts, retry policy and namespace
         * apply (paths are relative to the namespace). With {@link #digest}, build it with
         * {@code .authorization("digest", "user:password")}.
         *
         * @param client a started client
         * @return this builder
         */
        public Builder client(CuratorFramework client) {
            this.client = Options.required(client, "client");
            return this;
        }

        /**
         * Sets the root path under which services are registered, as Kratos's {@code WithRootPath}.
         *
         * @param rootPath an absolute ZooKeeper path; {@code /microservices} by default
         * @return this builder
         */
        public Builder rootPath(String rootPath) {
            this.rootPath = normalizeRoot(Options.required(rootPath, "rootPath"));
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
            Options.required(user, "user");
            Options.required(password, "password");
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
         * Sets the largest instance record (its JSON) that {@code register} accepts; a larger instance fails with an
         * {@link io.roster.InvalidInstanceException} naming the field that makes it large, before anything is sent.
         * ZooKeeper servers refuse (and drop the connection of) a request over their {@code jute.maxbuffer}, 1 MiB
         * by default, path and headers included; raise this only with the servers' and clients' limit.
         *
         * @param maxRecordBytes a positive number of bytes; 1 000 000 by default
         * @return this builder
         */
        public Builder maxRecordBytes(int maxRecordBytes) {
            if (maxRecordBytes < 1) {
                throw new InvalidOptionException("maxRecordBytes", "zookeeper maxRecordBytes must be a positive number"
                        + " of bytes, was " + maxRecordBytes);
            }
            this.maxRecordBytes = maxRecordBytes;
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
                return new ZooKeeperRegistry(description, client, false, rootPath, acl, maxRecordBytes);
            }
            CuratorFramework created = connect();
            return new ZooKeeperRegistry("zookeeper at " + connectString + rootPath, created, true, rootPath, acl,
                    maxRecordBytes);
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
            Options.required(value, name);
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
                    + (maxRecordBytes == ZooKeeperNodes.DEFAULT_MAX_RECORD_BYTES ? ""
                            : ", maxRecordBytes=" + maxRecordBytes)
                    + (digestUser == null ? "" : ", digest=" + digestUser + ":***") + "}";
        }
    }
}
