package io.roster.zookeeper;

import io.roster.ServiceInstance;
import io.roster.spi.Backoff;
import io.roster.spi.RetryTask;
import io.roster.spi.WatchHub;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.curator.utils.ZKPaths;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;

/**
 * Follows one service for the {@link WatchHub}: a persistent recursive watch on {@code <root>/<name>} marks what
 * changed (a child, or the service node itself), and a reader on the registry's worker thread reads it and pushes
 * the full list.
 *
 * <p>The watch is set with the registry's one dispatching {@link Watcher}, which routes events here by service
 * name. It is never removed: ZooKeeper removes watches per path and connection, not per watcher, so removing it
 * could silence another watcher of the same path on a shared client, or a subscription reopened meanwhile. Until
 * the session ends, events of services nobody watches any more are simply dropped.
 *
 * <p>Every event is answered by a read issued after it, so the read sees at least that change: an instance
 * replaced in one transaction (delete + create of one path) is read once, already replaced, and watchers never see
 * it missing. A read that fails because the connection dropped pushes nothing and leaves a full read for the
 * reconnection (changes made while disconnected raise no event), so watchers keep the last list meanwhile. Other
 * failures are retried with backoff.
 */
final class ZooKeeperWatch implements WatchHub.Subscription {
    private static final Logger LOG = LoggerFactory.getLogger(ZooKeeperWatch.class);

    private final CuratorFramework client;
    private final ZooKeeperNodes nodes;
    private final String service;
    private final String servicePath;
    private final Consumer<List<ServiceInstance>> sink;
    private final RetryTask reader;
    private final Watcher dispatcher;
    private final Consumer<ZooKeeperWatch> onClose;
    private final ConnectionStateListener connectionListener = (c, state) -> {
        if (state.isConnected()) {
            readAllSoon();
        }
    };

    // What changed since the last read; guarded by this.
    private boolean readAll = true;
    private final Set<String> changedChildren = new HashSet<>();
    private boolean closed;

    // The reader's own state: runs of the RetryTask never overlap.
    private final Map<String, ServiceInstance> instances = new HashMap<>();

    /**
     * Creates the subscription; {@link #start()} begins following.
     *
     * @param dispatcher the watcher to set on the service path; it must route the service's events to
     *     {@link #changed}
     * @param onClose called once on close, to stop routing events here
     */
    ZooKeeperWatch(CuratorFramework client, ZooKeeperNodes nodes, String service,
                   Consumer<List<ServiceInstance>> sink, ScheduledExecutorService worker, Watcher dispatcher,
                   Consumer<ZooKeeperWatch> onClose) {
        this.client = client;
        this.nodes = nodes;
        this.service = service;
        this.servicePath = nodes.servicePath(service);
        this.sink = sink;
        this.dispatcher = dispatcher;
        this.onClose = onClose;
        this.reader = new RetryTask("watch " + servicePath, worker, Backoff.defaults(), this::read);
    }

    ZooKeeperWatch start() {
        client.getConnectionStateListenable().addListener(connectionListener);
        reader.trigger();
        return this;
    }

    /** Takes an event of the service node or of one of its children. */
    void changed(WatchedEvent event) {
        String path = event.getPath();
        if (path == null || event.getType() == Watcher.Event.EventType.None) {
            return; // connection states come through the connection listener
        }
        synchronized (this) {
            if (closed) {
                return;
            }
            if (path.equals(servicePath)) {
                if (event.getType() != Watcher.Event.EventType.NodeCreated
                        && event.getType() != Watcher.Event.EventType.NodeDeleted) {
                    return; // the service node's own data means nothing
                }
                readAll = true;
            } else if (ZKPaths.getPathAndNode(path).getPath().equals(servicePath)) {
                changedChildren.add(ZKPaths.getNodeFromPath(path));
            } else {
                return; // deeper nodes are not instances
            }
        }
        reader.trigger();
    }

    private void readAllSoon() {
        synchronized (this) {
            if (closed) {
                return;
            }
            readAll = true;
        }
        reader.trigger();
    }

    private void read() throws Exception {
        boolean all;
        Set<String> children;
        synchronized (this) {
            if (closed) {
                return;
            }
            all = readAll;
            children = all ? Set.of() : Set.copyOf(changedChildren);
            readAll = false;
            changedChildren.clear();
        }
        try {
            if (!client.getZookeeperClient().isConnected()) {
                throw new KeeperException.ConnectionLossException();
            }
            if (all) {
                // Set (again) before reading, so that no change after the read goes unnoticed. Adding the same
                // watcher twice is harmless; after a session expiry it is needed.
                client.watchers().add().withMode(AddWatchMode.PERSISTENT_RECURSIVE).usingWatcher(dispatcher)
                        .forPath(servicePath);
                Map<String, ServiceInstance> found = nodes.readService(service);
                instances.clear();
                instances.putAll(found);
            } else {
                for (String child : children) {
                    Optional<ServiceInstance> instance = nodes.readInstance(service, child);
                    if (instance.isPresent()) {
                        instances.put(child, instance.get());
                    } else {
                        instances.remove(child);
                    }
                }
            }
        } catch (Exception e) {
            synchronized (this) {
                readAll = true;
            }
            if (ZooKeeperRegistry.isConnectionLoss(e)) {
                LOG.debug("Watch of {} waits for the reconnection: {}", servicePath, e.toString());
                return; // RECONNECTED triggers the full read
            }
            throw e;
        }
        synchronized (this) {
            if (closed) {
                return;
            }
        }
        sink.accept(List.copyOf(instances.values()));
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        client.getConnectionStateListenable().removeListener(connectionListener);
        reader.close();
        onClose.accept(this);
    }
}
