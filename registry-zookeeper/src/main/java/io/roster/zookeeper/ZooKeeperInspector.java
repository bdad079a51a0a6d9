package io.roster.zookeeper;

import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryUnavailableException;
import io.roster.spi.Failures;
import io.roster.spi.Inspection;
import io.roster.spi.Inspector;
import io.roster.spi.RegistryUri;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;

/**
 * Reads the nodes of a {@code zookeeper://} registry as stored, through the registry's own client: every child of
 * the root (or the one service node) and its children. The layout is Kratos's: {@code <root>/<name>} persistent
 * with no data, {@code <root>/<name>/<id>} ephemeral, without children, holding the instance JSON of that name and
 * id.
 */
public final class ZooKeeperInspector implements Inspector {

    /** Creates the inspector; called by {@link java.util.ServiceLoader}. */
    public ZooKeeperInspector() {
    }

    @Override
    public String scheme() {
        return "zookeeper";
    }

    @Override
    public Optional<String> timeoutOption() {
        return Optional.of("connectionTimeout");
    }

    @Override
    public Inspection inspect(Registry registry, RegistryUri uri, String service) {
        if (!(registry instanceof ZooKeeperRegistry)) {
            return Inspection.generic(registry, service, "not a ZooKeeperRegistry", (done, total) -> { });
        }
        ZooKeeperRegistry zk = (ZooKeeperRegistry) registry;
        CuratorFramework client = zk.curator().usingNamespace(null); // the root is a server path
        String root = zk.inspectionRoot();
        Inspection.Builder builder = Inspection.builder("ZooKeeper nodes under " + (service == null ? root
                : ZKPaths.makePath(root, service)));
        try {
            List<String> names = service == null ? children(client, root) : List.of(service);
            for (String name : new TreeSet<>(names)) {
                checkService(builder, client, root, name);
            }
        } catch (KeeperException.NoAuthException e) {
            throw new RegistryAccessDeniedException("inspect failed: " + registry + " denied access to " + root
                    + " (check the digest credentials)", e);
        } catch (Exception e) {
            if (ZooKeeperRegistry.isConnectionLoss(e)) {
                throw new RegistryUnavailableException("inspect failed: " + registry + " is unavailable ("
                        + e.getMessage() + ")", e);
            }
            throw Failures.wrap("inspect " + root, registry.toString(), e);
        }
        return builder.build();
    }

    private static void checkService(Inspection.Builder builder, CuratorFramework client, String root, String name)
            throws Exception {
        String servicePath = ZKPaths.makePath(root, name);
        Stat stat = new Stat();
        byte[] data;
        List<String> ids;
        try {
            data = client.getData().storingStatIn(stat).forPath(servicePath);
            ids = children(client, servicePath);
        } catch (KeeperException.NoAuthException e) {
            builder.problem(servicePath, Inspection.Kind.UNREADABLE, "this client may not read " + servicePath);
            return;
        }
        if (data != null && data.length > 0) {
            String text = new String(data, StandardCharsets.UTF_8);
            builder.record(servicePath, name, text, null).problem(servicePath, Inspection.Kind.MALFORMED_LOCATION,
                    "a service node holds data (" + data.length + " bytes): an instance record one level too high?");
        }
        if (ids.isEmpty()) {
            builder.serviceName(servicePath, name);
        }
        for (String id : new TreeSet<>(ids)) {
            // A bad name is named at each of its instances, the records a reader would miss.
            boolean nameOk = builder.serviceName(ZKPaths.makePath(servicePath, id), name);
            checkInstance(builder, client, servicePath, nameOk ? name : null, id);
        }
    }

    private static void checkInstance(Inspection.Builder builder, CuratorFramework client, String servicePath,
                                      String name, String id) throws Exception {
        String path = ZKPaths.makePath(servicePath, id);
        Stat stat = new Stat();
        byte[] data;
        try {
            data = client.getData().storingStatIn(stat).forPath(path);
        } catch (KeeperException.NoNodeException e) {
            return; // deleted since the listing
        } catch (KeeperException.NoAuthException e) {
            builder.problem(path, Inspection.Kind.UNREADABLE, "this client may not read " + path);
            return;
        }
        if (stat.getEphemeralOwner() == 0) {
            builder.problem(path, Inspection.Kind.NO_EXPIRY, "the node is persistent: it stays after the process "
                    + "that wrote it is gone");
        }
        if (stat.getNumChildren() > 0) {
            builder.problem(path, Inspection.Kind.MALFORMED_LOCATION, "an instance node has " + stat.getNumChildren()
                    + " children: expected <root>/<name>/<id>");
        }
        builder.decode(path, name, id, new String(data == null ? new byte[0] : data, StandardCharsets.UTF_8));
    }

    private static List<String> children(CuratorFramework client, String path) throws Exception {
        try {
            return client.getChildren().forPath(path);
        } catch (KeeperException.NoNodeException e) {
            return List.of();
        }
    }
}
