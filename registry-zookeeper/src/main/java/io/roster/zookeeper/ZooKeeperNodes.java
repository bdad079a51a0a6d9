package io.roster.zookeeper;

import io.roster.InvalidInstanceException;
import io.roster.RegistryException;
import io.roster.ServiceInstance;
import io.roster.spi.InstanceJson;
import org.apache.curator.RetryLoop;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.LongPredicate;

/**
 * Kratos's node layout under the root path, and the reads and writes on it:
 * {@code <root>} and {@code <root>/<name>} persistent with empty data, {@code <root>/<name>/<id>} ephemeral
 * holding the instance JSON. All nodes are created with one ACL (world, or the configured digest identity).
 *
 * <p>Paths here are the server's (a supplied client's namespace is part of the root), so that the Curator calls,
 * made on the client's namespace-free view, and the plain ZooKeeper calls name the same nodes.
 */
final class ZooKeeperNodes {
    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperNodes.class);
    /** Default for the largest instance record: ZooKeeper drops the connection on packets over jute.maxbuffer (1 MiB). */
    static final int DEFAULT_MAX_RECORD_BYTES = 1_000_000;
    /** Reads sent without waiting for their replies: enough to keep the server busy, few enough to stay polite. */
    static final int MAX_READS_IN_FLIGHT = 256;
    /** Attempts to settle a node that other clients keep changing under us. */
    private static final int MAX_WRITE_ATTEMPTS = 10;
    /**
     * Suffix of the sibling that an update creates and deletes in its transaction: Kratos's Go watchers watch only
     * the child list, and this makes them read the instances again. Never seen by a reader of the children.
     */
    private static final String UPDATE_MARK = ".roster-update";

    private final CuratorFramework client;
    private final String root;
    private final List<ACL> acl;
    private final int maxRecordBytes;

    /**
     * @param client a client without a namespace (the namespace is in {@code root})
     * @param root the root path on the server
     */
    ZooKeeperNodes(CuratorFramework client, String root, List<ACL> acl, int maxRecordBytes) {
        this.client = client;
        this.root = root;
        this.acl = List.copyOf(acl);
        this.maxRecordBytes = maxRecordBytes;
    }

    String root() {
        return root;
    }

    String servicePath(String service) {
        return ZKPaths.makePath(root, service);
    }

    String instancePath(ServiceInstance instance) {
        return ZKPaths.makePath(root, instance.name(), instance.id());
    }

    /** The client's current ZooKeeper handle, for asynchronous calls and watches. */
    ZooKeeper zooKeeper() throws Exception {
        return client.getZookeeperClient().getZooKeeper();
    }

    long sessionId() throws Exception {
        return zooKeeper().getSessionId();
    }

    boolean isConnected() {
        return client.getZookeeperClient().isConnected();
    }

    /**
     * Checks ZooKeeper's own rules, which are stricter than the core ones, before anything is sent.
     *
     * @return the record to store
     */
    byte[] record(ServiceInstance instance) {
        checkPathElement("name", instance.name());
        checkPathElement("id", instance.id());
        byte[] data = InstanceJson.encode(instance).getBytes(StandardCharsets.UTF_8);
        if (data.length > maxRecordBytes) {
            throw new InvalidInstanceException(largestField(instance), "must keep the instance record within "
                    + maxRecordBytes + " bytes of JSON on this ZooKeeper registry (option maxRecordBytes; ZooKeeper"
                    + " servers refuse packets over jute.maxbuffer, 1 MiB by default)", "(the record was "
                    + data.length + " bytes)");
        }
        return data;
    }

    /** The field that makes a record big, to name in the message: what the user has to shrink. */
    private static String largestField(ServiceInstance instance) {
        long metadata = 0;
        for (Map.Entry<String, String> e : instance.metadata().entrySet()) {
            metadata += e.getKey().length() + e.getValue().length() + 6;
        }
        long endpoints = 0;
        for (java.net.URI endpoint : instance.endpoints()) {
            endpoints += endpoint.toString().length() + 3;
        }
        long version = instance.version().length();
        long id = instance.id().length();
        long name = instance.name().length();
        long max = Math.max(Math.max(metadata, endpoints), Math.max(version, Math.max(id, name)));
        return max == metadata ? "metadata" : max == endpoints ? "endpoints" : max == version ? "version"
                : max == id ? "id" : "name";
    }

    /** ZooKeeper rejects '.' and '..' path elements and some character ranges (its PathUtils.validatePath). */
    static void checkPathElement(String field, String value) {
        if (value.equals(".") || value.equals("..")) {
            throw new InvalidInstanceException(field, "must not be '.' or '..' on ZooKeeper", "");
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if ((c >= '\ud800' && c <= '\uf8ff') || c >= '\ufff0') {
                throw new InvalidInstanceException(field, "must not contain characters that ZooKeeper rejects in"
                        + " paths (U+D800 to U+F8FF, U+FFF0 to U+FFFF, hence no character outside the Basic"
                        + " Multilingual Plane)", String.format("(U+%04X at index %d)", (int) c, i));
            }
        }
    }

    /**
     * Makes the instance node hold {@code data} and belong to the current session. NodeExists is never taken for
     * success. A node of ours holding other data is updated in place (its version checked), in one transaction
     * with the creation and deletion of a sibling so that child watches (Kratos's) fire: watchers never see the
     * instance missing. A node that belongs to another session (typically our own expired one, still held by the
     * server: Dubbo #5125) is replaced in one version-checked transaction when {@code mayTakeOver} accepts that
     * session, so that it does not vanish when that session ends, and left alone otherwise.
     *
     * @return true when a node was written, false when it was already as wanted or left to its owner
     */
    boolean write(String path, byte[] data, LongPredicate mayTakeOver) throws Exception {
        for (int attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
            try {
                client.create().creatingParentsIfNeeded().withMode(CreateMode.EPHEMERAL).withACL(acl, true)
                        .forPath(path, data);
                return true;
            } catch (KeeperException.NodeExistsException e) {
                // look at it below
            }
            Stat stat = new Stat();
            byte[] current;
            try {
                current = client.getData().storingStatIn(stat).forPath(path);
            } catch (KeeperException.NoNodeException e) {
                continue; // went away meanwhile: create again
            }
            boolean ours = stat.getEphemeralOwner() == sessionId();
            if (ours && Arrays.equals(current, data)) {
                return false;
            }
            if (!ours && !mayTakeOver.test(stat.getEphemeralOwner())) {
                LOG.warn("{} belongs to session 0x{} (another process registered the same id); leaving it alone",
                        path, Long.toHexString(stat.getEphemeralOwner()));
                return false;
            }
            try {
                if (ours) {
                    String mark = path + UPDATE_MARK;
                    client.transaction().forOperations(
                            client.transactionOp().setData().withVersion(stat.getVersion()).forPath(path, data),
                            client.transactionOp().create().withMode(CreateMode.EPHEMERAL).withACL(acl).forPath(mark),
                            client.transactionOp().delete().forPath(mark));
                } else {
                    client.transaction().forOperations(
                            client.transactionOp().delete().withVersion(stat.getVersion()).forPath(path),
                            client.transactionOp().create().withMode(CreateMode.EPHEMERAL).withACL(acl)
                                    .forPath(path, data));
                }
                return true;
            } catch (KeeperException.BadVersionException | KeeperException.NoNodeException e) {
                // changed meanwhile: look again
            } catch (KeeperException.NodeExistsException e) {
                // someone holds a node named like our mark: update without it
                client.setData().withVersion(stat.getVersion()).forPath(path, data);
                return true;
            }
        }
        throw new RegistryException(path + " kept changing under concurrent writers; gave up after "
                + MAX_WRITE_ATTEMPTS + " attempts");
    }

    /**
     * Deletes a node if it still has the given version.
     *
     * @return true when the node is gone (deleted now or before), false when its version differs
     */
    boolean deleteVersion(String path, int version) throws Exception {
        try {
            client.delete().withVersion(version).forPath(path);
        } catch (KeeperException.NoNodeException e) {
            return true;
        } catch (KeeperException.BadVersionException e) {
            return false;
        }
        return true;
    }

    /**
     * Deletes a node only if the current session owns it: its owner is read, then the node deleted with the version
     * read. A node that another session holds (another process registered the same id, or our expired session's,
     * which goes with it) is not ours to delete.
     *
     * @return whether the node was deleted
     */
    boolean deleteIfOwned(String path) throws Exception {
        Stat stat = client.checkExists().forPath(path);
        if (stat == null || stat.getEphemeralOwner() != sessionId()) {
            return false;
        }
        try {
            client.delete().withVersion(stat.getVersion()).forPath(path);
            return true;
        } catch (KeeperException.NoNodeException | KeeperException.BadVersionException e) {
            return false; // gone or replaced meanwhile: not ours to delete any more
        }
    }

    /**
     * Reads every instance of a service, concurrently: a missing service node is no instance; a child deleted
     * meanwhile or holding a malformed record is skipped. Retries across a connection loss as Curator's own calls
     * do.
     *
     * @return child node name to instance
     */
    Map<String, ServiceInstance> readService(String service) throws Exception {
        String path = servicePath(service);
        return RetryLoop.callWithRetry(client.getZookeeperClient(), () -> {
            List<String> children;
            try {
                children = zooKeeper().getChildren(path, false);
            } catch (KeeperException.NoNodeException e) {
                return Map.of();
            }
            return readInstances(service, children);
        });
    }

    /** Reads the given children of a service concurrently, skipping those gone or malformed. */
    Map<String, ServiceInstance> readInstances(String service, List<String> children) throws Exception {
        ZooKeeper zk = zooKeeper();
        String path = servicePath(service);
        Map<String, byte[]> records = each(zk, children, (child, reply) -> zk.getData(ZKPaths.makePath(path, child),
                false, (rc, p, ctx, data, stat) -> reply.done(rc, data), null), child -> {
                    try {
                        return zk.getData(ZKPaths.makePath(path, child), false, null);
                    } catch (KeeperException.NoNodeException e) {
                        return null;
                    }
                });
        Map<String, ServiceInstance> found = new HashMap<>();
        records.forEach((child, data) -> decode(service, child, data).ifPresent(i -> found.put(child, i)));
        return found;
    }

    /**
     * Lists the services that have at least one instance node, counting the children of each concurrently.
     *
     * @return the service node names
     */
    List<String> services() throws Exception {
        return RetryLoop.callWithRetry(client.getZookeeperClient(), () -> {
            ZooKeeper zk = zooKeeper();
            List<String> names;
            try {
                names = zk.getChildren(root, false);
            } catch (KeeperException.NoNodeException e) {
                return List.of();
            }
            // A service node this client may not read is left out, as one may not read its instances either.
            Map<String, Integer> counts = each(zk, names, (name, reply) -> zk.exists(ZKPaths.makePath(root, name),
                    false, (rc, p, ctx, stat) -> reply.done(rc == KeeperException.Code.NOAUTH.intValue()
                            ? KeeperException.Code.NONODE.intValue() : rc, stat == null ? 0 : stat.getNumChildren()),
                    null), name -> {
                        try {
                            Stat stat = zk.exists(ZKPaths.makePath(root, name), false);
                            return stat == null ? null : stat.getNumChildren();
                        } catch (KeeperException.NoAuthException e) {
                            return null;
                        }
                    });
            return counts.entrySet().stream().filter(e -> e.getValue() > 0).map(Map.Entry::getKey).toList();
        });
    }

    /** Decodes one instance record; empty when it is malformed or names another service. */
    Optional<ServiceInstance> decode(String service, String child, byte[] data) {
        String path = ZKPaths.makePath(root, service, child);
        // Kratos skips records whose name differs from the service they are filed under; so do we.
        return InstanceJson.decodeOrSkip(new String(data == null ? new byte[0] : data, StandardCharsets.UTF_8), path)
                .filter(instance -> instance.name().equals(service));
    }

    /**
     * The watcher given to ZooKeeper for a subscription or a registry: it forwards to its target until detached, so
     * that a watch the client still holds (one that could not be removed, or a one-shot watch not fired yet) never
     * keeps a closed registry reachable.
     */
    static final class Relay implements Watcher {
        private volatile Watcher target;

        Relay(Watcher target) {
            this.target = target;
        }

        @Override
        public void process(WatchedEvent event) {
            Watcher current = target;
            if (current != null) {
                current.process(event);
            }
        }

        void detach() {
            target = null;
        }

        /** Tells whether a connection-state event reports that the client is connected (again). */
        static boolean isConnected(WatchedEvent event) {
            return event.getType() == Watcher.Event.EventType.None
                    && (event.getState() == Watcher.Event.KeeperState.SyncConnected
                    || event.getState() == Watcher.Event.KeeperState.ConnectedReadOnly);
        }
    }

    /** Where an asynchronous call reports its reply. */
    interface Reply<T> {
        void done(int rc, T value);
    }

    /** Sends one asynchronous call. */
    interface Call<T> {
        void send(String key, Reply<T> reply);
    }

    /** Makes the same call synchronously; null when the node is gone. */
    interface SyncCall<T> {
        T call(String key) throws Exception;
    }

    /**
     * Makes one asynchronous call per key, at most {@link #MAX_READS_IN_FLIGHT} waiting for their replies at once,
     * and waits for all of them. A key whose node is gone is left out; any other failure fails the whole.
     */
    private static <T> Map<String, T> each(ZooKeeper zk, List<String> keys, Call<T> call, SyncCall<T> inTurn)
            throws Exception {
        if (Thread.currentThread().getClass().getName().equals("org.apache.zookeeper.ClientCnxn$EventThread")) {
            // Called from a watcher or callback of this client (getService in a listener): asynchronous replies
            // would come on this very thread, so make the calls one at a time instead.
            Map<String, T> results = new HashMap<>();
            for (String key : keys) {
                T value = inTurn.call(key);
                if (value != null) {
                    results.put(key, value);
                }
            }
            return results;
        }
        // Every call is answered: by the server, or with a connection loss once the client gives the connection
        // up (within its session timeout). The bound is a safety net on top.
        long timeoutMs = 2L * zk.getSessionTimeout() + 1_000;
        Map<String, T> results = new HashMap<>();
        int[] pending = {0};
        KeeperException[] failure = {null};
        Object lock = new Object();
        for (String key : keys) {
            synchronized (lock) {
                long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
                while (pending[0] >= MAX_READS_IN_FLIGHT && failure[0] == null) {
                    waitUntil(lock, deadline);
                }
                if (failure[0] != null) {
                    break;
                }
                pending[0]++;
            }
            call.send(key, (rc, value) -> {
                synchronized (lock) {
                    pending[0]--;
                    if (rc == KeeperException.Code.OK.intValue()) {
                        results.put(key, value);
                    } else if (rc != KeeperException.Code.NONODE.intValue() && failure[0] == null) {
                        failure[0] = KeeperException.create(KeeperException.Code.get(rc), key);
                    }
                    lock.notifyAll();
                }
            });
        }
        synchronized (lock) {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
            while (pending[0] > 0 && failure[0] == null) {
                waitUntil(lock, deadline);
            }
            if (failure[0] != null) {
                throw failure[0];
            }
            return results;
        }
    }

    private static void waitUntil(Object lock, long deadline) throws Exception {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new KeeperException.OperationTimeoutException();
        }
        TimeUnit.NANOSECONDS.timedWait(lock, left);
    }
}
