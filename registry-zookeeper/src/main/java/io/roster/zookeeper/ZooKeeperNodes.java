package io.roster.zookeeper;

import io.roster.InvalidInstanceException;
import io.roster.RegistryException;
import io.roster.ServiceInstance;
import io.roster.spi.InstanceJson;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Kratos's node layout under the root path, and the reads and writes on it:
 * {@code <root>} and {@code <root>/<name>} persistent with empty data, {@code <root>/<name>/<id>} ephemeral
 * holding the instance JSON. All nodes are created with one ACL (world, or the configured digest identity).
 */
final class ZooKeeperNodes {
    /** Largest instance record: ZooKeeper drops the connection on packets over jute.maxbuffer (1 MiB). */
    static final int MAX_RECORD_BYTES = 1_000_000;
    /** Attempts to settle a node that other clients keep changing under us. */
    private static final int MAX_WRITE_ATTEMPTS = 10;

    private final CuratorFramework client;
    private final String root;
    private final List<ACL> acl;

    ZooKeeperNodes(CuratorFramework client, String root, List<ACL> acl) {
        this.client = client;
        this.root = root;
        this.acl = List.copyOf(acl);
    }

    String root() {
        return root;
    }

    String servicePath(String service) {
        return ZKPaths.makePath(root, service);
    }

    /** Returns the service an event path belongs to (the service node or anything below it), or null. */
    String serviceOf(String path) {
        String prefix = root.equals("/") ? "/" : root + "/";
        if (path == null || !path.startsWith(prefix) || path.length() == prefix.length()) {
            return null;
        }
        int end = path.indexOf('/', prefix.length());
        return path.substring(prefix.length(), end < 0 ? path.length() : end);
    }

    String instancePath(ServiceInstance instance) {
        return ZKPaths.makePath(root, instance.name(), instance.id());
    }

    /**
     * Checks ZooKeeper's own rules, which are stricter than the core ones, before anything is sent.
     *
     * @return the record to store
     */
    static byte[] record(ServiceInstance instance) {
        checkPathElement("name", instance.name());
        checkPathElement("id", instance.id());
        byte[] data = InstanceJson.encode(instance).getBytes(StandardCharsets.UTF_8);
        if (data.length > MAX_RECORD_BYTES) {
            throw new InvalidInstanceException("instance", "must encode to at most " + MAX_RECORD_BYTES
                    + " bytes of JSON on ZooKeeper (jute.maxbuffer)", "(was " + data.length + ")");
        }
        return data;
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
     * Makes the instance node hold {@code data} and belong to the current session. An existing node that belongs to
     * another session (typically our own expired one, still held by the server: Dubbo #5125) or holds other data is
     * replaced in one transaction, version-checked, so that watchers never see the instance missing. NodeExists is
     * never taken for success.
     *
     * @return true when a node was written, false when it was already as wanted
     */
    boolean write(String path, byte[] data) throws Exception {
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
            if (stat.getEphemeralOwner() == sessionId() && Arrays.equals(current, data)) {
                return false;
            }
            try {
                client.transaction().forOperations(
                        client.transactionOp().delete().withVersion(stat.getVersion()).forPath(path),
                        client.transactionOp().create().withMode(CreateMode.EPHEMERAL).withACL(acl)
                                .forPath(path, data));
                return true;
            } catch (KeeperException.BadVersionException | KeeperException.NoNodeException e) {
                // changed meanwhile: look again
            }
        }
        throw new RegistryException(path + " kept changing under concurrent writers; gave up after "
                + MAX_WRITE_ATTEMPTS + " attempts");
    }

    /** Deletes a node whatever its owner; an absent node is fine. */
    void delete(String path) throws Exception {
        try {
            client.delete().forPath(path);
        } catch (KeeperException.NoNodeException e) {
            // already gone: deregistering is idempotent
        }
    }

    /**
     * Deletes a node only if the current session owns it: for deletions postponed by a connection loss, when the
     * node may since belong to somebody else.
     */
    void deleteIfOwned(String path) throws Exception {
        Stat stat = client.checkExists().forPath(path);
        if (stat != null && stat.getEphemeralOwner() == sessionId()) {
            try {
                client.delete().withVersion(stat.getVersion()).forPath(path);
            } catch (KeeperException.NoNodeException | KeeperException.BadVersionException e) {
                // gone or replaced meanwhile: not ours to delete any more
            }
        }
    }

    /**
     * Reads every instance of a service: a missing service node is no instance; a child deleted meanwhile or
     * holding a malformed record is skipped.
     *
     * @return child node name to instance
     */
    Map<String, ServiceInstance> readService(String service) throws Exception {
        List<String> children;
        try {
            children = client.getChildren().forPath(servicePath(service));
        } catch (KeeperException.NoNodeException e) {
            return Map.of();
        }
        Map<String, ServiceInstance> found = new HashMap<>();
        for (String child : children) {
            readInstance(service, child).ifPresent(instance -> found.put(child, instance));
        }
        return found;
    }

    /** Reads one instance node; empty when it is gone, malformed, or names another service. */
    Optional<ServiceInstance> readInstance(String service, String child) throws Exception {
        String path = ZKPaths.makePath(root, service, child);
        byte[] data;
        try {
            data = client.getData().forPath(path);
        } catch (KeeperException.NoNodeException e) {
            return Optional.empty();
        }
        // Kratos skips records whose name differs from the service they are filed under; so do we.
        return InstanceJson.decodeOrSkip(new String(data == null ? new byte[0] : data, StandardCharsets.UTF_8), path)
                .filter(instance -> instance.name().equals(service));
    }

    private long sessionId() throws Exception {
        return client.getZookeeperClient().getZooKeeper().getSessionId();
    }
}
